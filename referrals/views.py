from django.shortcuts import render

from .models import Reward


def landing(request):
    rewards = Reward.objects.filter(active=True)
    return render(request, "referrals/landing.html", {"rewards": rewards})
