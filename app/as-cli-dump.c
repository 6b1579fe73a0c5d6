/* attnscope-cli dump — tokens plus every attention matrix, as JSON, or the
 * attention alone as a NumPy .npy array [layers, heads, n, n]. */
#include "as-cli.h"

#include <stdio.h>
#include <string.h>

#include "as-json-writer.h"
#include "as-output-file.h"

typedef struct {
  FILE *out;
  int   n_heads;
  int   n;
} DumpState;

/* Streams one layer as it arrives: [heads][rows][cols]. */
static gboolean
write_layer (int          layer,
             const float *attn,
             const float *hidden,
             gpointer     user_data)
{
  DumpState *s = user_data;
  FILE *out = s->out;
  fputs (layer == 0 ? "\n    [" : ",\n    [", out);
  for (int h = 0; h < s->n_heads; h++)
    {
      fputs (h == 0 ? "\n      [" : ",\n      [", out);
      for (int i = 0; i < s->n; i++)
        {
          const float *row = attn + ((gsize) h * s->n + i) * s->n;
          fputs (i == 0 ? "[" : ", [", out);
          for (int j = 0; j < s->n; j++)
            {
              if (j > 0)
                fputs (", ", out);
              as_json_write_float (out, row[j]);
            }
          fputc (']', out);
        }
      fputc (']', out);
    }
  fputs ("]", out);
  return !ferror (out);
}

/* .npy: '<f4' stays little-endian on every host. */
static gboolean
write_npy_layer (int          layer,
                 const float *attn,
                 const float *hidden,
                 gpointer     user_data)
{
  DumpState *s = user_data;
  gsize count = (gsize) s->n_heads * s->n * s->n;
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  fwrite (attn, sizeof (float), count, s->out);
#else
  for (gsize i = 0; i < count; i++)
    {
      guint32 bits;
      memcpy (&bits, &attn[i], sizeof bits);
      bits = GUINT32_TO_LE (bits);
      fwrite (&bits, sizeof bits, 1, s->out);
    }
#endif
  return !ferror (s->out);
}

/* NumPy format 1.0: magic, version, a little-endian u16 header length, then
 * a Python dict literal padded with spaces and ended by '\n' so that the
 * data starts on a 64-byte boundary. */
static void
write_npy_header (FILE *out,
                  int   n_layers,
                  int   n_heads,
                  int   n)
{
  g_autofree char *dict = g_strdup_printf ("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d, %d), }",
                                           n_layers, n_heads, n, n);
  gsize prefix = 10;   /* magic (6) + version (2) + header length (2) */
  gsize len = strlen (dict) + 1;
  gsize padded = ((prefix + len + 63) / 64) * 64 - prefix;
  guint8 head[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, padded & 0xff, (padded >> 8) & 0xff };

  fwrite (head, 1, sizeof head, out);
  fputs (dict, out);
  for (gsize i = len; i < padded; i++)
    fputc (' ', out);
  fputc ('\n', out);
}

static gboolean
write_npy (FILE              *out,
           AsBackend         *backend,
           AsEncoding        *enc,
           const AsCliCommon *common,
           GError           **error)
{
  const AsConfig *c = backend->model->config;
  int n = enc->n_tokens;
  write_npy_header (out, c->n_layers, c->n_heads, n);

  int *ids = g_new (int, n);
  int *types = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  DumpState state = { out, c->n_heads, n };
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = n,
    .on_layer = write_npy_layer, .user_data = &state,
    .ablate = common->ablation, .n_ablate = common->n_ablation,
  };
  gboolean ok = as_backend_forward (backend, &req, NULL, error);
  g_free (ids);
  g_free (types);
  return ok;
}

static gboolean
write_dump (FILE        *out,
            AsBackend   *backend,
            const char  *text,
            gsize        text_len,
            const char  *pair,
            AsEncoding  *enc,
            const AsCliCommon *common,
            GError     **error)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;

  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model->dir);
  fputs (",\n  \"text\": ", out);
  as_json_write_string_len (out, text, (gssize) text_len);
  fputs (",\n  \"pair\": ", out);
  if (pair != NULL)
    as_json_write_string (out, pair);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"truncated\": %s,\n  \"n_layers\": %d,\n  \"n_heads\": %d,\n  \"n_tokens\": %d,\n",
           enc->truncated ? "true" : "false", c->n_layers, c->n_heads, enc->n_tokens);
  as_json_write_tokens (out, enc);
  fputs ("  \"attention\": [", out);

  int *ids = g_new (int, enc->n_tokens);
  int *types = g_new (int, enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  DumpState state = { out, c->n_heads, enc->n_tokens };
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = enc->n_tokens,
    .on_layer = write_layer, .user_data = &state,
    .ablate = common->ablation, .n_ablate = common->n_ablation,
  };
  gboolean ok = as_backend_forward (backend, &req, NULL, error);
  g_free (ids);
  g_free (types);
  fputs ("\n  ]\n}\n", out);
  return ok;
}

int
as_cli_dump (int    argc,
             char **argv)
{
  static const char *const formats[] = { "json", "npy", NULL };
  AsCliCommon common = { 0 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— write tokens and all attention matrices");
  GError *error = NULL;
  as_cli_add_model_options (ctx, &common);
  as_cli_add_text_options (ctx, &common);
  as_cli_add_device_options (ctx, &common);
  as_cli_add_ablation_options (ctx, &common);
  as_cli_add_output_options (ctx, &common, NULL, "json (default) or npy");
  g_option_context_set_summary (ctx,
    "Formats: json (default): tokens and attention[layer][head][query][key];\n"
    "npy: the attention alone, a NumPy float32 array of shape (layers, heads, n, n)\n"
    "(numpy.load reads it; the tokens are in the JSON or 'tokenize' output).");

  g_autofree char *text = NULL;
  gsize text_len = 0;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsEncoding *enc = NULL;
  AsOutputFile *file = NULL;
  int format;

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      (format = as_cli_format (&common, formats, &error)) < 0 ||
      !as_cli_check_text (&common, &error) ||
      (model = as_cli_load_model (&common, &error)) == NULL ||
      !as_cli_load_ablation (&common, model, &error) ||
      (file = as_cli_open_output (&common, model, &error)) == NULL ||
      (text = as_cli_read_text (&common, model, &text_len, &error)) == NULL ||
      (backend = as_cli_open_backend (&common, model, &error)) == NULL)
    goto out;
  if (!as_model_check_tokenizer (model, &error) ||
      !as_tokenizer_check_pair (model->tokenizer, common.pair, &error))
    goto out;

  enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len, common.pair, -1,
                                 model->config->max_positions);
  as_cli_report_truncation (enc, model);

  FILE *stream = as_output_file_stream (file);
  gboolean written = format == 1 ? write_npy (stream, backend, enc, &common, &error)
                                 : write_dump (stream, backend, text, text_len, common.pair, enc,
                                               &common, &error);
  /* A layer callback stops the pass when a write fails; the cause is the
   * write, not the stop. */
  if (!as_output_file_check (file, NULL))
    {
      g_clear_error (&error);
      as_output_file_check (file, &error);
    }
  else if (!written && error == NULL)
    g_set_error_literal (&error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "the forward pass failed");
  if (error == NULL)
    as_output_file_commit (g_steal_pointer (&file), &error);

out:
  if (file != NULL)
    as_output_file_abort (file);
  g_clear_pointer (&enc, as_encoding_free);
  as_backend_free (backend);
  as_model_free (model);
  as_cli_common_clear (&common);
  return as_cli_finish ("dump", error);
}
