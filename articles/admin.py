from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from insights.queries import article_results

from .models import Article, Author, Category, PreviousSlug, Tag
from .rendering import render_body
from .services import article_publish, article_unpublish

# A preview request is rendered synchronously: bound the work one keystroke can ask for.
PREVIEW_MAX_CHARS = 200_000


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


class ChipsOnlyAutocomplete(AutocompleteSelectMultiple):
    """Tags are removed one by one with each chip's own button. select2's "remove all" button
    is a bare span inside the chips' list, which makes the list invalid for screen readers."""

    def build_attrs(self, base_attrs, extra_attrs=None):
        return {**super().build_attrs(base_attrs, extra_attrs), "data-allow-clear": "false"}


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
        "business_results",
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
        (
            "What this article brought in",
            {
                "fields": ["business_results"],
                "description": "Views are not tracked; leads and sign-ups sent from this "
                "article's own forms are. The staff dashboard has the whole picture.",
            },
        ),
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
        js = ["js/articles-admin.js"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "tags":
            kwargs["widget"] = ChipsOnlyAutocomplete(db_field, self.admin_site)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_urls(self):
        preview = path(
            "preview-body/",
            self.admin_site.admin_view(self.preview_body_view),
            name="articles_article_preview_body",
        )
        return [preview, *super().get_urls()]

    @method_decorator(require_POST)
    def preview_body_view(self, request):
        """Markdown in, the sanitised HTML readers would get out (for the live preview)."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        body = request.POST.get("body", "")[:PREVIEW_MAX_CHARS]
        return HttpResponse(render_body(body).html, content_type="text/html; charset=utf-8")

    @admin.display(description="results")
    def business_results(self, article):
        if not article.pk:
            return "Nothing yet: the article is not saved."
        numbers = article_results(article.pk)
        return format_html(
            '<table class="article-results"><thead><tr><th scope="col">Leads</th>'
            '<th scope="col">Quote requests</th><th scope="col">Won deals</th>'
            '<th scope="col">Newsletter sign-ups (confirmed)</th></tr></thead>'
            "<tbody><tr><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td></tr></tbody></table>"
            '<p><a href="{}?{}">Leads from this article</a> · <a href="{}">Staff insights</a></p>',
            numbers["leads"],
            numbers["quotes"],
            numbers["won"],
            numbers["signups"],
            numbers["confirmed"],
            reverse("admin:leads_lead_changelist"),
            f"article__id__exact={article.pk}",
            reverse("insights:dashboard"),
        )

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

    @admin.display(description="preview (updates as you type)")
    def body_preview(self, article):
        # body_html is produced by articles.rendering, which sanitises it.
        return format_html(
            '<div class="article-body-preview" data-preview-url="{}" aria-live="polite">{}</div>',
            reverse("admin:articles_article_preview_body"),
            mark_safe(article.body_html),  # noqa: S308
        )

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
