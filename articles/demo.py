"""Original demo content for News & Insights (used by `manage.py seed_demo`)."""

from datetime import timedelta

from django.utils import timezone
from django.utils.text import slugify

from .models import Article, Author, Category, Tag
from .rendering import render_body
from .search import refresh_search_vectors
from .signals import invalidate_public_pages

AUTHORS = [
    {
        "name": "Priya Raman",
        "job_title": "Head of Data & AI curriculum",
        "bio": "Priya spent eight years shipping machine learning systems before designing "
        "Skilldacity's Data & AI courses.",
    },
    {
        "name": "Tom Okafor",
        "job_title": "Careers adviser",
        "bio": "Tom helps learners plan their move into tech, from the first course to the "
        "first interview.",
    },
]

CATEGORIES = {
    "Careers": "Roles, salaries and how to get there.",
    "Data & AI": "Machine learning, analytics and the people who build them.",
    "Cloud & DevOps": "Infrastructure, automation and the platforms it runs on.",
    "Cyber Security": "Keeping people and organisations safe online.",
}

ARTICLES = [
    {
        "title": "Machine Learning Engineer: what they do, job outlook, salary, how to become one",
        "category": "Data & AI",
        "tags": ["Machine learning", "Careers", "Python"],
        "summary": "Machine learning engineers turn models into products. Here is what the job "
        "involves day to day, what it pays, and a realistic path into it.",
        "body": """Machine learning engineers sit between data science and software engineering.
A data scientist asks whether a model *can* predict something; an ML engineer makes sure it
does so reliably, at scale, every day.

## What a machine learning engineer does

- Builds **data pipelines** that feed models clean, current data.
- Trains, evaluates and versions models, and decides when one is good enough to ship.
- Deploys models behind APIs and batch jobs, and watches them for drift.
- Works with product teams to turn a prediction into a feature people use.

## Job outlook

Demand has grown every year since 2018, and most organisations that hire data scientists now
hire ML engineers to put their work into production.

## Salary

Entry-level roles commonly start around £45,000; experienced engineers earn £70,000 to £110,000,
more in finance and in the largest technology firms.

## How to become one

1. Get fluent in **Python** and one ML library (scikit-learn, then PyTorch).
2. Learn the software craft: version control, testing, containers.
3. Build two or three projects end to end, from raw data to a deployed model.
4. Take a structured course: our [Machine Learning Engineering](/quote/) course covers all of the
   above in twelve weeks, on Windows, macOS or a Chromebook.
""",
    },
    {
        "title": "Cloud engineer or DevOps engineer: which path suits you?",
        "category": "Cloud & DevOps",
        "tags": ["Cloud", "DevOps", "Careers"],
        "summary": "Two of the most hired roles in tech overlap, but they are not the same job. "
        "We compare the work, the tools and the first steps for each.",
        "body": """Cloud engineers design and run the infrastructure; DevOps engineers make
delivering software onto it fast and safe. Many people do a bit of both.

## A day as a cloud engineer

- Designing networks, identity and storage on AWS, Azure or Google Cloud.
- Writing infrastructure as code with Terraform.
- Keeping costs and security under control.

## A day as a DevOps engineer

- Building CI/CD pipelines.
- Containerising services and running them on Kubernetes.
- Improving monitoring, alerting and incident response.

## Where to start

Learn Linux and networking basics first; both paths need them. Then pick one cloud provider and
get its associate-level certificate.
""",
    },
    {
        "title": "Five habits of people who finish online courses",
        "category": "Careers",
        "tags": ["Study skills"],
        "summary": "Most people who start an online course never finish it. The ones who do "
        "share a handful of habits that anyone can copy.",
        "body": """Completion rates for self-paced courses are famously low. Here is what the
learners who finish do differently.

1. **They schedule it.** Two fixed evenings a week beat "when I have time".
2. **They study on one device.** A tablet or laptop kept for learning removes distractions.
3. **They build something.** A project makes the theory stick.
4. **They find a partner.** Accountability doubles completion.
5. **They ask early.** Tutors would rather answer a small question now than a big one later.
""",
    },
    {
        "title": "Phishing in 2026: what your team still falls for",
        "category": "Cyber Security",
        "tags": ["Security awareness", "Phishing"],
        "summary": "Attackers have moved from obvious scams to convincing, personalised messages. "
        "These are the patterns we see most in our training exercises.",
        "body": """Phishing remains the most common way into an organisation. The messages have
improved; so must the training.

## The patterns we see most

- Fake invoice and payment-change requests sent from look-alike domains.
- "Shared document" notifications that lead to credential-harvesting pages.
- Messages that copy an internal tone of voice, written with AI tools.

## What works

Short, regular exercises with immediate feedback work far better than an annual lecture.
Our Security Awareness course runs on iPad, Android tablets and laptops alike.
""",
    },
    {
        "title": "Choosing devices for a training cohort: a buyer's checklist",
        "category": "Careers",
        "tags": ["Devices", "Buying guide"],
        "summary": "Laptops, tablets or Chromebooks? What to check before you buy devices for a "
        "group of learners.",
        "body": """The right device makes a course easier to finish. Before you order twenty of
anything, check these points.

- **Course requirements.** Programming courses need a full keyboard and a real operating system.
- **Management.** Can your IT team enrol and wipe the devices remotely?
- **Battery life.** A full teaching day is eight hours.
- **Accessories.** Styluses, cases and spare chargers add up.

Ask us for a quote: we bundle devices and courses for teams of any size.
""",
    },
]


def seed_articles(now=None):
    """Create the demo categories, tags and articles if they are not there yet. Returns counts."""
    now = now or timezone.now()
    categories = {}
    for name, description in CATEGORIES.items():
        categories[name], _ = Category.objects.get_or_create(
            slug=slugify(name), defaults={"name": name, "description": description}
        )
    authors = [
        Author.objects.get_or_create(
            slug=slugify(data["name"]),
            defaults={key: data[key] for key in ("name", "job_title", "bio")},
        )[0]
        for data in AUTHORS
    ]
    created = 0
    for index, data in enumerate(ARTICLES):
        article, was_created = Article.objects.get_or_create(
            slug=slugify(data["title"])[:200],
            defaults={
                "title": data["title"],
                "summary": data["summary"],
                "body": data["body"],
                "category": categories[data["category"]],
                "author": authors[index % len(authors)],
                "status": Article.Status.PUBLISHED,
                "published_at": now - timedelta(days=3 * index + 1),
            },
        )
        if was_created:
            created += 1
            tags = [
                Tag.objects.get_or_create(slug=slugify(name), defaults={"name": name})[0]
                for name in data["tags"]
            ]
            article.tags.set(tags)
    return created


def seed_bulk_articles(count, *, progress=None, batch_size=1000, now=None):
    """Create `count` generated articles (for benchmarks), skipping those already there."""
    now = now or timezone.now()
    categories = list(Category.objects.all()) or [
        Category.objects.create(name="General", slug="general")
    ]
    existing = set(
        Article.objects.filter(slug__startswith="bench-article-").values_list("slug", flat=True)
    )
    tags = list(Tag.objects.values_list("pk", flat=True))
    body = ARTICLES[0]["body"]
    # bulk_create skips save(), so the derived columns are filled in here, once.
    rendered = render_body(body)
    created = 0
    batch = []
    for number in range(1, count + 1):
        slug = f"bench-article-{number}"
        if slug not in existing:
            batch.append(
                Article(
                    title=f"Generated insight number {number}",
                    slug=slug,
                    summary="A generated article used to measure the site with many articles.",
                    body=body,
                    body_html=rendered.html,
                    toc=rendered.toc,
                    reading_minutes=rendered.reading_minutes,
                    category=categories[number % len(categories)],
                    status=Article.Status.PUBLISHED,
                    published_at=now - timedelta(minutes=number),
                )
            )
        if len(batch) >= batch_size or (number == count and batch):
            made = Article.objects.bulk_create(batch)
            if tags:
                Article.tags.through.objects.bulk_create(
                    Article.tags.through(article_id=article.pk, tag_id=tags[article.pk % len(tags)])
                    for article in made
                )
            created += len(batch)
            batch = []
        if progress:
            progress(number, count)
    refresh_search_vectors(Article.objects.filter(slug__startswith="bench-article-"))
    # bulk_create sends no signals: tell the page cache directly.
    invalidate_public_pages()
    return created
