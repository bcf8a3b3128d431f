"""Carry the case rules of course codes and course keys by stored normalised columns.

The unique indexes on LOWER(course_code) and LOWER(course_key) only folded ASCII letters on SQLite.
This adds ``course_code_normalized`` and ``course_key_normalized`` (trimmed and casefolded), fills
them from the existing rows (history rows too), and moves the unique constraints onto them.
"""

from django.db import migrations, models

BATCH_SIZE = 1000


def _normalise(value) -> str:
    # A frozen copy of rollbook.core.normalise.normalise_key, so this migration keeps its meaning.
    return ("" if value is None else str(value)).strip().casefold()


def _fill(model, source: str, target: str) -> None:
    batch = []
    for row in model.objects.only("pk", source).iterator(chunk_size=BATCH_SIZE):
        setattr(row, target, _normalise(getattr(row, source)))
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            model.objects.bulk_update(batch, [target])
            batch = []
    if batch:
        model.objects.bulk_update(batch, [target])


def fill_normalized_columns(apps, schema_editor):
    for model_name, source, target in (
        ("CatalogCourse", "course_code", "course_code_normalized"),
        ("HistoricalCatalogCourse", "course_code", "course_code_normalized"),
        ("CourseRun", "course_key", "course_key_normalized"),
        ("HistoricalCourseRun", "course_key", "course_key_normalized"),
    ):
        _fill(apps.get_model("catalog", model_name), source, target)


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0002_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="catalogcourse",
            name="course_code_normalized",
            field=models.CharField(default="", editable=False, max_length=765),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="courserun",
            name="course_key_normalized",
            field=models.CharField(default="", editable=False, max_length=765),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalcatalogcourse",
            name="course_code_normalized",
            field=models.CharField(default="", editable=False, max_length=765),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalcourserun",
            name="course_key_normalized",
            field=models.CharField(default="", editable=False, max_length=765),
            preserve_default=False,
        ),
        migrations.RunPython(fill_normalized_columns, migrations.RunPython.noop, elidable=True),
        migrations.RemoveConstraint(
            model_name="catalogcourse",
            name="unique_course_code_per_org_ci",
        ),
        migrations.RemoveConstraint(
            model_name="courserun",
            name="unique_course_key_ci",
        ),
        migrations.AddConstraint(
            model_name="catalogcourse",
            constraint=models.UniqueConstraint(
                fields=("org", "course_code_normalized"), name="unique_course_code_per_org"
            ),
        ),
        migrations.AddConstraint(
            model_name="courserun",
            constraint=models.UniqueConstraint(fields=("course_key_normalized",), name="unique_course_key_normalized"),
        ),
    ]
