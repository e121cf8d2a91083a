from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .models import Article, Author, Category, PreviousSlug, Tag
from .services import article_publish, article_unpublish


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("draft", "Draft"), ("scheduled", "Scheduled"), ("live", "Published")]

    def queryset(self, request, queryset):
        match self.value():
            case "draft":
                return queryset.exclude(status=Article.Status.PUBLISHED)
            case "scheduled":
                return queryset.scheduled()
            case "live":
                return queryset.published()
        return queryset


class PreviousSlugInline(admin.TabularInline):
    model = PreviousSlug
    extra = 0
    fields = ["slug", "created_at"]
    readonly_fields = ["created_at"]
    verbose_name = "old address that redirects here"
    verbose_name_plural = "old addresses that redirect here"


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "state_label", "category", "author", "published_at", "updated_at"]
    list_filter = [StateFilter, "category", "tags", "author"]
    list_select_related = ["category", "author"]
    search_fields = ["title", "summary", "slug"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["tags", "author", "category"]
    readonly_fields = [
        "preview_link",
        "body_preview",
        "reading_minutes",
        "created_at",
        "updated_at",
    ]
    actions = ["publish_selected", "unpublish_selected"]
    inlines = [PreviousSlugInline]
    save_on_top = True
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "category", "tags", "author"]}),
        ("Body", {"fields": ["body", "body_preview"]}),
        ("Hero image", {"fields": ["hero_image", "hero_image_alt"]}),
        (
            "Publishing",
            {
                "fields": ["status", "published_at", "preview_link"],
                "description": "Draft: only staff see it. Published with a future time: "
                "scheduled, it appears by itself then. Published: live now.",
            },
        ),
        ("Details", {"fields": ["reading_minutes", "created_at", "updated_at"]}),
    ]

    class Media:
        css = {"all": ["css/articles-admin.css"]}

    @admin.display(description="state", ordering="status")
    def state_label(self, article):
        return article.state

    @admin.display(description="preview")
    def preview_link(self, article):
        if not article.pk:
            return "Save the article to preview it."
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Preview as readers will see it</a>'
            " (only staff can open this link)",
            reverse("articles:preview", args=[article.pk]),
        )

    @admin.display(description="rendered body (as of the last save)")
    def body_preview(self, article):
        if not article.pk:
            return "Save to see the rendered body."
        # body_html is produced by articles.rendering, which sanitises it.
        return mark_safe(f'<div class="article-body-preview">{article.body_html}</div>')  # noqa: S308

    @admin.action(description="Publish selected articles", permissions=["change"])
    def publish_selected(self, request, queryset):
        changed = article_publish(articles=queryset, now=timezone.now())
        self.message_user(request, f"{changed} article(s) published.", messages.SUCCESS)

    @admin.action(description="Unpublish selected articles (back to draft)", permissions=["change"])
    def unpublish_selected(self, request, queryset):
        changed = article_unpublish(articles=queryset)
        self.message_user(request, f"{changed} article(s) back to draft.", messages.SUCCESS)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "article_count"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(article_count=Count("articles"))

    @admin.display(description="articles", ordering="article_count")
    def article_count(self, category):
        return category.article_count


@admin.register(Tag)
class TagAdmin(CategoryAdmin):
    search_fields = ["name"]


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["name", "job_title", "user"]
    list_select_related = ["user"]
    search_fields = ["name", "job_title"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["user"]
