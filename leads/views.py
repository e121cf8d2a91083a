from django.shortcuts import render


def quote(request):
    return render(request, "leads/quote.html")


def callback(request):
    return render(request, "leads/callback.html")
