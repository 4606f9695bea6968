"""The default schedule (editable in the admin): all analyses nightly at 02:00 UTC, and a
check every minute that queues them once edits have been quiet for two minutes."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Nightly outcome analyses",
        defaults={"task": "analysis.tasks.run_all_analyses", "crontab": nightly, "kwargs": '{"trigger": "schedule"}'},
    )
    PeriodicTask.objects.get_or_create(
        name="Outcome analyses after data changes",
        defaults={"task": "analysis.tasks.refresh_after_data_changes", "interval": every_minute},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, migrations.RunPython.noop)]
