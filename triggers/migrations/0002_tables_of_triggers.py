"""The tables of repository links and push records take this app's names.

Apart from 0001: the indexes of a table that 0001 creates are made when that
migration ends, so only then can one be renamed.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("triggers", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelTable(name="repositorylink", table=None),
        migrations.AlterModelTable(name="pushtrigger", table=None),
        migrations.RenameIndex(
            model_name="pushtrigger",
            new_name="push_trigger_project_created",
            old_name="workflows_p_project_241dc7_idx",
        ),
    ]
