/* decoder-test-util.c — see decoder-test-util.h. */
#include "decoder-test-util.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-lm-head.h"
#include "as-model.h"
#include "as-reference.h"
#include "llama-test-util.h"

/* The bounds an fp32 forward must meet against transformers on a tiny
 * model; the measured values are printed with each case. */
#define ATTN_TOL    2e-5
#define HIDDEN_TOL  1e-4
#define LOGIT_TOL   1e-4

static char *
data_path (const char *folder,
           const char *name)
{
  const char *dir = g_getenv ("AS_TEST_DATA");
  g_assert_nonnull (dir);
  return g_build_filename (dir, folder, name, NULL);
}

static double
max_diff (const float *a,
          const float *b,
          gsize        count)
{
  double worst = 0;
  for (gsize i = 0; i < count; i++)
    worst = MAX (worst, fabs ((double) a[i] - b[i]));
  return worst;
}

/* The tokenizer's ids of SENTENCE equal the case's (transformers'). */
static void
check_ids (AsModel    *model,
           const char *sentence,
           JsonArray  *want,
           int        *ids)
{
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, sentence, NULL, 0);
  g_assert_cmpint (enc->n_tokens, ==, (int) json_array_get_length (want));
  for (int i = 0; i < enc->n_tokens; i++)
    {
      ids[i] = (int) json_array_get_int_element (want, i);
      g_assert_cmpint (enc->tokens[i].id, ==, ids[i]);
    }
  as_encoding_free (enc);
}

/* The last position's logits: transformers' top 10 ids in order, and their
 * values; returns the largest difference. */
static double
check_top_logits (AsModel     *model,
                  const float *final_hidden,
                  int          n,
                  JsonObject  *cs)
{
  const int V = model->config->vocab_size;
  g_autofree float *logits = g_new (float, (gsize) n * V);   /* [n, V] */
  as_lm_head_logits (model, final_hidden, n, logits);
  const float *last = logits + (gsize) (n - 1) * V;          /* [V] */
  JsonArray *top_ids = json_object_get_array_member (cs, "top_ids");
  JsonArray *top_logits = json_object_get_array_member (cs, "top_logits");
  g_assert_cmpuint (json_array_get_length (top_ids), ==, 10);
  gboolean *taken = g_new0 (gboolean, V);
  double worst = 0;
  for (guint r = 0; r < 10; r++)
    {
      int best = -1;   /* the r-th largest of ours */
      for (int t = 0; t < V; t++)
        if (!taken[t] && (best < 0 || last[t] > last[best]))
          best = t;
      taken[best] = TRUE;
      g_assert_cmpint (best, ==, (int) json_array_get_int_element (top_ids, r));
      worst = MAX (worst, fabs (last[best] - json_array_get_double_element (top_logits, r)));
    }
  g_free (taken);
  return worst;
}

void
decoder_check_goldens (const char           *folder,
                       const AsArchitecture *arch)
{
  decoder_check_goldens_of (folder, NULL, arch);
}

/* BACKEND's forward of case CS against transformers' outputs in FOLDER. */
static void
check_case (AsModel    *model,
            const char *folder,
            AsBackend  *backend,
            JsonObject *cs)
{
  const AsConfig *c = model->config;
  const char *name = json_object_get_string_member (cs, "name");
  const int n = (int) json_object_get_int_member (cs, "n");
  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new0 (int, n);
  check_ids (model, json_object_get_string_member (cs, "sentence"),
             json_object_get_array_member (cs, "ids"), ids);

  g_autoptr(GError) error = NULL;
  AsAnalysis *a = as_attention_compute_ids (backend, ids, types, n, &error);
  g_assert_no_error (error);
  const gsize count = (gsize) c->n_layers * c->n_heads * n * n, hcount = (gsize) n * c->hidden;
  g_autofree char *attn_name = g_strdup_printf ("%s-attn.f32", name);
  g_autofree char *hidden_name = g_strdup_printf ("%s-hidden.f32", name);
  g_autofree char *attn_path = data_path (folder, attn_name);
  g_autofree char *hidden_path = data_path (folder, hidden_name);
  g_autofree float *want = test_read_floats (attn_path, count);             /* [L, NH, n, n] */
  g_autofree float *want_hidden = test_read_floats (hidden_path, hcount);   /* [n, H] */
  double d_attn = max_diff (a->attn, want, count);
  double d_hidden = max_diff (a->final_hidden, want_hidden, hcount);
  double d_logit = check_top_logits (model, a->final_hidden, n, cs);
  g_test_message ("%s %s, %s backend (%d tokens): max |d| attention %.3g, final hidden %.3g, "
                  "top-10 logits %.3g", folder, name, as_backend_get_name (backend), n, d_attn,
                  d_hidden, d_logit);
  g_assert_cmpfloat (d_attn, <=, ATTN_TOL);
  g_assert_cmpfloat (d_hidden, <=, HIDDEN_TOL);
  g_assert_cmpfloat (d_logit, <=, LOGIT_TOL);
  as_analysis_unref (a);
}

void
decoder_check_goldens_of (const char           *folder,
                          const char           *file,
                          const AsArchitecture *arch)
{
  g_autofree char *dir = data_path (folder, file);
  g_autofree char *cases_path = data_path (folder, "cases.json");
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  g_assert_true (model->arch == arch);
  g_assert_nonnull (model->tokenizer);

  g_autoptr(JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, cases_path, &error));
  JsonArray *cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                                   "cases");
  g_assert_cmpuint (json_array_get_length (cases), >=, 2);

  /* the plain forward, and the fast one users run */
  AsBackend *backends[2] = { as_reference_backend_new (model), as_cpu_backend_new (model) };
  for (guint bi = 0; bi < G_N_ELEMENTS (backends); bi++)
    {
      for (guint ci = 0; ci < json_array_get_length (cases); ci++)
        check_case (model, folder, backends[bi], json_array_get_object_element (cases, ci));
      as_backend_free (backends[bi]);
    }
  as_model_free (model);
}

static const char *const folder_files[] = {
  "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
};

/* The first FIND in LEN bytes of DATA, which may hold NUL bytes (a
 * safetensors header's length does). */
static const char *
find_bytes (const char *data,
            gsize       len,
            const char *find)
{
  const gsize flen = strlen (find);
  for (gsize i = 0; i + flen <= len; i++)
    if (memcmp (data + i, find, flen) == 0)
      return data + i;
  return NULL;
}

char *
decoder_damaged_copy (const char *folder,
                      const char *file,
                      const char *find,
                      const char *replace)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("as-decoder-XXXXXX", &error);
  g_assert_no_error (error);
  gboolean found = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (folder_files); i++)
    {
      g_autofree char *from = data_path (folder, folder_files[i]);
      g_autofree char *to = g_build_filename (dir, folder_files[i], NULL);
      g_autofree char *contents = NULL;
      gsize len = 0;
      g_file_get_contents (from, &contents, &len, &error);
      g_assert_no_error (error);
      GByteArray *out = g_byte_array_new ();
      const char *at = strcmp (folder_files[i], file) == 0
                       ? find_bytes (contents, len, find) : NULL;
      if (at != NULL)
        {
          found = TRUE;
          g_byte_array_append (out, (const guint8 *) contents, at - contents);
          g_byte_array_append (out, (const guint8 *) replace, strlen (replace));
          at += strlen (find);
          g_byte_array_append (out, (const guint8 *) at, contents + len - at);
        }
      else
        g_byte_array_append (out, (const guint8 *) contents, len);
      g_file_set_contents (to, (const char *) out->data, out->len, &error);
      g_assert_no_error (error);
      g_byte_array_unref (out);
    }
  g_assert_true (found);
  return dir;
}

void
decoder_remove_copy (const char *dir)
{
  for (guint i = 0; i < G_N_ELEMENTS (folder_files); i++)
    {
      g_autofree char *path = g_build_filename (dir, folder_files[i], NULL);
      g_remove (path);
    }
  g_rmdir (dir);
}

void
decoder_assert_refused (const char *dir,
                        const char *message)
{
  g_autoptr(GError) error = NULL;
  g_assert_null (as_model_load (dir, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, message));
}
