"""The ORM's WorkflowSpec is StoredSpec (the spec library keeps that name), Model is RegisteredModel.

StoredSpec took its name in 0001 (see there) and takes its table's name here;
Model is renamed with RenameModel. Rows are kept, and so are the content types
(and with them admin permissions) of both.
"""

from django.db import migrations

RENAMED = {"workflowspec": "storedspec"}


def rename_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for old, new in RENAMED.items():
        if not content_type.objects.filter(app_label="workflows", model=new).exists():
            content_type.objects.filter(app_label="workflows", model=old).update(model=new)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("workflows", "0004_container_registry"),
    ]

    operations = [
        migrations.AlterModelTable(name="storedspec", table=None),
        migrations.RunPython(rename_content_types, migrations.RunPython.noop),
        migrations.RenameModel("Model", "RegisteredModel"),
    ]
