from django.db import models


class Reward(models.Model):
    class Kind(models.TextChoices):
        COURSE = "course", "Course"
        DEVICE = "device", "Device"
        ACCESSORY = "accessory", "Accessory"

    name = models.CharField(max_length=150, unique=True)
    slug = models.SlugField(max_length=150, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.TextField(blank=True)
    points_cost = models.PositiveIntegerField()
    stock = models.PositiveIntegerField(
        null=True, blank=True, help_text="Leave empty when the reward is not limited by stock."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["points_cost", "name"]

    def __str__(self):
        return f"{self.name} ({self.points_cost} points)"
