from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from .rendering import render_body


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=100, unique=True, help_text="Part of the address: /news/category/your-slug/."
    )
    description = models.TextField(
        blank=True, help_text="Shown at the top of the category page and in its feed."
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:category", kwargs={"slug": self.slug})


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:tag", kwargs={"tag_slug": self.slug})


class Author(models.Model):
    """The byline: a public profile, optionally tied to a staff account."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    job_title = models.CharField(max_length=120, blank=True, help_text='e.g. "Head of Data".')
    bio = models.TextField(
        max_length=600, blank=True, help_text="Two or three sentences, shown under articles."
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="author_profile",
        help_text="The staff account that writes as this author, if any.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ArticleQuerySet(models.QuerySet):
    def published(self, now=None):
        """Live articles: published status and a publication time that has come.

        A scheduled article is simply a published one whose time is in the future, so it appears
        by itself at that time with no job to run.
        """
        return self.filter(status=Article.Status.PUBLISHED, published_at__lte=now or timezone.now())

    def scheduled(self, now=None):
        return self.filter(status=Article.Status.PUBLISHED, published_at__gt=now or timezone.now())

    def for_listing(self):
        """What a list, feed or sidebar needs, without the (large) body columns."""
        return self.select_related("category", "author").defer(
            "body", "body_html", "toc", "search_vector"
        )


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=200,
        unique=True,
        help_text="Part of the address: /news/your-slug/. Changing it keeps the old address "
        "working (it redirects here).",
    )
    summary = models.TextField(
        max_length=500,
        blank=True,
        help_text="One or two sentences for lists, search, sharing and the meta description.",
    )
    body = models.TextField(
        help_text="Markdown: ## headings, - lists, [links](https://...), ![images](url), "
        "`code`. Raw HTML is cleaned: scripts and event handlers are removed."
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="articles", null=True, blank=True
    )
    tags = models.ManyToManyField(Tag, related_name="articles", blank=True)
    author = models.ForeignKey(
        Author, on_delete=models.SET_NULL, null=True, blank=True, related_name="articles"
    )
    hero_image = models.ImageField(
        upload_to="articles/%Y/%m/",
        width_field="hero_image_width",
        height_field="hero_image_height",
        blank=True,
        help_text="Wide image (at least 1200 × 630 px works best for sharing). Optional.",
    )
    hero_image_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    hero_image_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    hero_image_alt = models.CharField(
        "hero image alt text",
        max_length=250,
        blank=True,
        help_text="Required with an image: describe it for people who cannot see it.",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    published_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Published articles appear at this time; a future time schedules them and "
        "they appear by themselves then. Left empty when publishing: now.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Derived from the body on save, so pages never render Markdown per request.
    body_html = models.TextField(blank=True, editable=False)
    toc = models.JSONField(default=list, blank=True, editable=False)
    reading_minutes = models.PositiveSmallIntegerField(default=1, editable=False)
    # Kept current after commit (articles.search); PostgreSQL only, NULL elsewhere.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-id"]
        # Matches published() and the default ordering, so a page of the list is an index scan.
        indexes = [models.Index(fields=["status", "-published_at", "-id"], name="article_live_idx")]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        if self.status == self.Status.PUBLISHED and self.published_at is None:
            self.published_at = timezone.now()
        self.render()
        if self.pk:
            self._remember_old_slug()
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("articles:detail", kwargs={"slug": self.slug})

    def _remember_old_slug(self):
        old_slug = Article.objects.filter(pk=self.pk).values_list("slug", flat=True).first()
        if old_slug and old_slug != self.slug:
            PreviousSlug.objects.update_or_create(slug=old_slug, defaults={"article_id": self.pk})
        # The current address always wins over a redirect.
        PreviousSlug.objects.filter(slug=self.slug).delete()

    def clean(self):
        if self.hero_image and not self.hero_image_alt.strip():
            raise ValidationError(
                {"hero_image_alt": "Describe the image: alt text is required with a hero image."}
            )
        if (
            self.slug
            and PreviousSlug.objects.filter(slug=self.slug).exclude(article_id=self.pk).exists()
        ):
            raise ValidationError(
                {
                    "slug": "Another article used this address before and it still redirects "
                    "there. Choose a different slug."
                }  # fmt: skip
            )

    def render(self):
        rendered = render_body(self.body)
        self.body_html, self.toc, self.reading_minutes = (
            rendered.html,
            rendered.toc,
            rendered.reading_minutes,
        )

    @property
    def is_live(self):
        return (
            self.status == self.Status.PUBLISHED
            and self.published_at is not None
            and self.published_at <= timezone.now()
        )

    @property
    def state(self):
        if self.status != self.Status.PUBLISHED:
            return "Draft"
        return "Published" if self.is_live else "Scheduled"

    @property
    def shows_updated(self):
        """Readers see "Updated" only for a change made well after publication."""
        if not self.published_at or not self.updated_at:
            return False
        # Back-dated articles are created after their publication date: count from creation.
        went_live = max(self.published_at, self.created_at or self.published_at)
        return (self.updated_at - went_live).total_seconds() > 86400

    @property
    def meta_description(self):
        return self.summary or self.title


class PreviousSlug(models.Model):
    """An address an article had before: it answers with a permanent redirect."""

    slug = models.SlugField(max_length=200, unique=True)
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="previous_slugs")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.slug
