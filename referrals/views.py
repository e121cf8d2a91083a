import re
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from skilldacity.attribution import get_attribution, set_referral_code
from skilldacity.clientip import client_ip
from skilldacity.spam import rate_limited

from .forms import EmailAuthenticationForm, OutboxPasswordResetForm, RedeemForm, SignupForm
from .models import LedgerEntry, Redemption, Referral, ReferrerAccount, Reward
from .services import accounts, errors, rewards, rules

HISTORY_PAGE_SIZE = 20
REFERRALS_SHOWN = 50
REDEMPTIONS_SHOWN = 20
CODE_PATTERN = re.compile(r"^[A-Za-z0-9]{4,16}$")


def landing(request):
    rewards = Reward.objects.filter(active=True)
    return render(
        request,
        "referrals/landing.html",
        {"rewards": rewards, "points_per_referral": rules.points_per_referral()},
    )


def short_link(request, code):
    """/r/CODE: remember who referred this visitor, then send them on."""
    code = code.upper()
    if CODE_PATTERN.match(code) and ReferrerAccount.objects.filter(code=code).exists():
        # Also stamps when the code was first seen: the attribution window runs from then.
        set_referral_code(request, code)
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("home")
    return redirect(target)


def signup(request):
    if request.user.is_authenticated:
        return redirect("referrals:dashboard")
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if rate_limited(request, group="referrals-signup", rate="10/h"):
            form.add_error(None, "Too many sign-ups from your network. Try again in an hour.")
            status = 429
        elif form.is_valid():
            if not form.is_spam():
                accounts.account_signup(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                    attribution=get_attribution(request),
                    ip=client_ip(request),
                )
            request.session["signup_email"] = form.cleaned_data["email"]
            return redirect("referrals:signup_done")
    context = {"form": form, "points_per_referral": rules.points_per_referral()}
    return render(request, "registration/signup.html", context, status=status)


def signup_done(request):
    return render(
        request, "registration/signup_done.html", {"email": request.session.get("signup_email")}
    )


def verify(request, token):
    """GET shows a button; only the POST verifies, so mail scanners that follow links cannot."""
    user = accounts.verification_user(token)
    if user is None:
        return render(request, "registration/verify_invalid.html", status=400)
    if ReferrerAccount.objects.filter(user=user, email_verified_at__isnull=False).exists():
        # A used link must not sign anyone in again (forwarded mail, shared screenshots).
        messages.info(request, "Your address is already verified. Please sign in.")
        return redirect("login")
    if request.method == "POST":
        accounts.account_verify(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Your e-mail address is verified. Welcome to SkillPoints!")
        return redirect("referrals:dashboard")
    return render(request, "registration/verify.html", {"token": token, "email": user.email})


class LoginView(auth_views.LoginView):
    authentication_form = EmailAuthenticationForm
    next_page = reverse_lazy("referrals:dashboard")


class PasswordResetView(auth_views.PasswordResetView):
    form_class = OutboxPasswordResetForm

    def form_valid(self, form):
        if rate_limited(self.request, group="referrals-password-reset", rate="5/m"):
            # Answer as for a success: a reset form must not help anyone probe addresses.
            return redirect(self.get_success_url())
        return super().form_valid(form)


def _share_links(url):
    text = quote(f"Join me on {settings.SITE_NAME}: {url}")
    encoded = quote(url, safe="")
    return [
        (
            "E-mail",
            f"mailto:?subject={quote('Learn with me on ' + settings.SITE_NAME)}&body={text}",
        ),
        ("WhatsApp", f"https://wa.me/?text={text}"),
        ("LinkedIn", f"https://www.linkedin.com/sharing/share-offsite/?url={encoded}"),
        ("X", f"https://twitter.com/intent/tweet?text={text}"),
    ]


def _history_page(account, before):
    """One page of ledger history by keyset (entries older than id `before`), never a COUNT:
    a page costs the same with ten entries or a million."""
    entries = LedgerEntry.objects.filter(account=account).only(
        "amount", "kind", "note", "created_at"
    )
    if before and before.isdigit() and len(before) < 19:
        entries = entries.filter(pk__lt=int(before))
    rows = list(entries.order_by("-id")[: HISTORY_PAGE_SIZE + 1])
    older_than = rows[HISTORY_PAGE_SIZE - 1].pk if len(rows) > HISTORY_PAGE_SIZE else None
    return rows[:HISTORY_PAGE_SIZE], older_than


@login_required
def dashboard(request):
    """The referrer's own page. Everything is looked up through request.user: no ids in the URL."""
    account = accounts.account_for_user(user=request.user)
    referrals = list(
        account.referrals.only("referrer_id", "email", "state", "created_at")[:REFERRALS_SHOWN]
    )
    counts = account.referrals.aggregate(
        total=Count("id"),
        qualified=Count("id", filter=Q(state=Referral.State.QUALIFIED)),
    )
    history, older_than = _history_page(account, request.GET.get("before"))
    rewards = [
        (reward, RedeemForm(initial=RedeemForm.initial_for(reward)))
        for reward in Reward.objects.filter(active=True, points_cost__lte=account.balance).exclude(
            stock=0
        )
    ]
    redemptions = list(account.redemptions.select_related("reward")[:REDEMPTIONS_SHOWN])
    link = f"{settings.SITE_URL}{reverse('referrals:short_link', args=[account.code])}"
    return render(
        request,
        "referrals/dashboard.html",
        {
            "account": account,
            "referrals": [(rules.mask_email(r.email), r) for r in referrals],
            "counts": counts,
            "history": history,
            "older_than": older_than,
            "newest_page": "before" in request.GET,
            "rewards": rewards,
            "redemptions": redemptions,
            "link": link,
            "share_links": _share_links(link),
        },
    )


@login_required
@require_POST
def redeem(request):
    form = RedeemForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That reward could not be redeemed. Please try again.")
        return redirect("referrals:dashboard")
    account = accounts.account_for_user(user=request.user)
    try:
        redemption = rewards.reward_redeem(
            account=account,
            reward_id=form.cleaned_data["reward"],
            request_key=form.cleaned_data["request_key"],
        )
    except errors.PointsError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Redeemed {redemption.reward.name} for {redemption.points} points. "
            "We have e-mailed you and will be in touch to deliver it.",
        )
    return redirect("referrals:dashboard")


@login_required
@require_POST
def redemption_cancel(request, pk):
    redemption = get_object_or_404(Redemption, pk=pk, account__user=request.user)
    try:
        rewards.redemption_cancel(redemption_id=redemption.pk)
    except errors.InvalidTransition:
        messages.error(request, "That request is already being handled, so it cannot be cancelled.")
    else:
        messages.success(
            request, f"Cancelled; {redemption.points} points are back in your balance."
        )
    return redirect("referrals:dashboard")
