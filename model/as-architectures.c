/* as-architectures.c — the registry of architectures (model_type → family)
 * and the backend constructors that dispatch through a model's architecture,
 * so callers make backends without naming a family.
 *
 * Adding an architecture: its as-arch-*.c defines a const AsArchitecture and
 * gets one line in the table below (model/README.md has the checklist).
 */
#include "as-architecture.h"

#include "as-backend.h"
#include "as-bert.h"
#include "as-gpt2.h"
#include "as-llama.h"
#include "as-model.h"
#include "as-reference.h"

/* Searched in order; the first that accepts a model_type wins. */
static const AsArchitecture *const architectures[] = {
  &as_arch_bert,
  &as_arch_llama,
  &as_arch_gpt2,
  &as_arch_roberta,
  &as_arch_distilbert,
  NULL,
};

const AsArchitecture *
as_architecture_lookup (const char *model_type)
{
  if (model_type == NULL)
    return NULL;
  for (guint i = 0; architectures[i] != NULL; i++)
    if (g_strv_contains ((const char *const *) architectures[i]->model_types, model_type))
      return architectures[i];
  return NULL;
}

const AsArchitecture *const *
as_architecture_get_all (void)
{
  return architectures;
}

char *
as_architecture_list_supported (void)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; architectures[i] != NULL; i++)
    for (guint j = 0; architectures[i]->model_types[j] != NULL; j++)
      g_string_append_printf (s, "%s%s", s->len > 0 ? ", " : "",
                              architectures[i]->model_types[j]);
  return g_string_free (s, FALSE);
}

AsBackend *
as_cpu_backend_new (const AsModel *model)
{
  return model->arch->cpu_backend_new (model);
}

AsBackend *
as_reference_backend_new (const AsModel *model)
{
  return model->arch->reference_backend_new (model);
}
