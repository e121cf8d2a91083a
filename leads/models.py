from django.db import models


class DevicePlatform(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name


class Course(models.Model):
    class Level(models.TextChoices):
        BEGINNER = "beginner", "Beginner"
        INTERMEDIATE = "intermediate", "Intermediate"
        ADVANCED = "advanced", "Advanced"

    title = models.CharField(max_length=150, unique=True)
    slug = models.SlugField(max_length=150, unique=True)
    summary = models.TextField(blank=True)
    level = models.CharField(max_length=12, choices=Level.choices, default=Level.BEGINNER)
    price_from = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Lowest price, in GBP."
    )
    active = models.BooleanField(default=True)
    platforms = models.ManyToManyField(DevicePlatform, related_name="courses", blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title
