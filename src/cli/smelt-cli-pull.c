/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-pull.c: `smelt pull REPO[:VARIANT] [--dir DIR] [--connections N] [--revision R]`.
 *
 * Resolves the revision to a commit, lists the tree, picks the variant (the one named, else the
 * advisor's pick for this machine, else Q4_K_M, else Q8_0 as llama.cpp does, else the only one),
 * and hands it to the download manager
 * (the huggingface_hub cache, or DIR). Byte pieces are joined into one GGUF next to them. A progress bar goes to stderr when it is a terminal; the
 * local path of the model (part 1 for split files) goes to stdout at the end. Ctrl-C stops with
 * the progress saved; the same command resumes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "smelt-cli-hub.h"
#include "smelt-cli-private.h"
#include "smelt-download-manager.h"

typedef struct
{
  SmeltDownloadManager *manager;
  guint                 id;
  gboolean              finished;
  gboolean              interrupted;
  gboolean              tty;
  gint64                last_line_us;
} Pull;

static const SmeltHubVariant *
pick_variant (GPtrArray  *variants,
              const char *wanted,
              guint64     n_params,
              GError    **error)
{
  g_autoptr(GString) names = g_string_new (NULL);
  static const char *defaults[] = { "Q4_K_M", "Q8_0" };

  for (guint i = 0; i < variants->len; i++)
    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "",
                            ((SmeltHubVariant *) g_ptr_array_index (variants, i))->name);

  if (variants->len == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "This repository has no GGUF model files");
      return NULL;
    }
  if (wanted != NULL)
    {
      const SmeltHubVariant *by_quant = NULL;
      guint n_quant = 0;

      for (guint i = 0; i < variants->len; i++)
        {
          const SmeltHubVariant *v = g_ptr_array_index (variants, i);

          if (g_ascii_strcasecmp (v->name, wanted) == 0)
            return v;
          if (g_ascii_strcasecmp (v->quant, wanted) == 0)
            {
              by_quant = v;
              n_quant++;
            }
        }
      if (n_quant == 1)
        return by_quant;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   n_quant > 1 ? "Several variants are %s; name one of: %s"
                               : "No variant %s here; available: %s",
                   wanted, names->str);
      return NULL;
    }
  {
    g_autoptr(SmeltRecommendation) rec = smelt_cli_advise (variants, n_params);

    if (rec != NULL && rec->recommended >= 0)
      {
        const SmeltHubVariant *v = g_ptr_array_index (variants, rec->recommended);

        fprintf (stderr, "The advisor picks %s for this machine (`smelt recommend` says why).\n", v->name);
        return v;
      }
  }
  for (guint d = 0; d < G_N_ELEMENTS (defaults); d++)
    for (guint i = 0; i < variants->len; i++)
      {
        const SmeltHubVariant *v = g_ptr_array_index (variants, i);

        if (g_strcmp0 (v->quant, defaults[d]) == 0)
          return v;
      }
  if (variants->len == 1)
    return g_ptr_array_index (variants, 0);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
               "No Q4_K_M or Q8_0 here; pick one with REPO:VARIANT from: %s", names->str);
  return NULL;
}

/* Byte pieces (`x.gguf.part1of2`, `x.gguf-split-a`) are only a GGUF once joined: writes `x.gguf`
 * next to them (through a temporary name) unless it is already there with the right size.
 * Returns the joined path. */
static char *
join_pieces (const SmeltHubVariant *variant,
             const char            *first_path,
             GError               **error)
{
  const SmeltHubFile *first = g_ptr_array_index (variant->files, 0);
  g_autofree char *root = NULL;
  g_autofree char *joined = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *buf = NULL;
  g_autoptr(GFileOutputStream) out = NULL;
  g_autoptr(GFile) tmp_file = NULL;
  const char *cut;
  gsize root_len;
  GStatBuf st;

  if (!g_str_has_suffix (first_path, first->path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Unexpected download path %s", first_path);
      return NULL;
    }
  root_len = strlen (first_path) - strlen (first->path);
  root = g_strndup (first_path, root_len);
  cut = g_strrstr (first->path, ".gguf");
  joined = g_strdup_printf ("%s%.*s.gguf", root, (int) (cut - first->path), first->path);
  if (g_stat (joined, &st) == 0 && (guint64) st.st_size == variant->size_bytes)
    return g_steal_pointer (&joined);

  tmp = g_strconcat (joined, ".part", NULL);
  tmp_file = g_file_new_for_path (tmp);
  out = g_file_replace (tmp_file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, error);
  if (out == NULL)
    return NULL;
  buf = g_malloc (4 * 1024 * 1024);
  for (guint i = 0; i < variant->files->len; i++)
    {
      const SmeltHubFile *file = g_ptr_array_index (variant->files, i);
      g_autofree char *path = g_strconcat (root, file->path, NULL);
      g_autoptr(GFile) part = g_file_new_for_path (path);
      g_autoptr(GFileInputStream) in = g_file_read (part, NULL, error);
      gssize n;

      if (in == NULL)
        goto fail;
      while ((n = g_input_stream_read (G_INPUT_STREAM (in), buf, 4 * 1024 * 1024, NULL, error)) > 0)
        if (!g_output_stream_write_all (G_OUTPUT_STREAM (out), buf, (gsize) n, NULL, NULL, error))
          goto fail;
      if (n < 0)
        goto fail;
    }
  if (!g_output_stream_close (G_OUTPUT_STREAM (out), NULL, error))
    goto fail;
  if (g_rename (tmp, joined) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "Could not rename %s: %s", tmp,
                   g_strerror (errno));
      goto fail;
    }
  return g_steal_pointer (&joined);

fail:
  /* A half-joined file never keeps the final name. */
  g_unlink (tmp);
  return NULL;
}

static void
collect_snapshot (const char *root,
                  const char *rel,
                  GPtrArray  *files)
{
  g_autofree char *dir_path = rel[0] != '\0' ? g_build_filename (root, rel, NULL) : g_strdup (root);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child_rel = rel[0] != '\0' ? g_strconcat (rel, "/", name, NULL) : g_strdup (name);
      g_autofree char *full = g_build_filename (root, child_rel, NULL);
      GStatBuf st;

      /* stat follows the snapshot's symlinks: a dangling link (blob gone) is not a file. */
      if (g_stat (full, &st) != 0)
        continue;
      if (S_ISDIR (st.st_mode))
        collect_snapshot (root, child_rel, files);
      else if (S_ISREG (st.st_mode))
        g_ptr_array_add (files, smelt_hub_file_new (child_rel, (guint64) st.st_size, NULL));
    }
}

/* HF_HUB_OFFLINE: answer from the cache alone (refs/<rev> -> snapshots/<commit>/), like
 * huggingface_hub and llama.cpp do. */
static int
pull_offline (const char *repo_id,
              const char *wanted,
              const char *revision,
              const char *dir)
{
  g_autofree char *cache = smelt_download_hub_cache_dir ();
  g_autofree char *repo_dir = smelt_download_repo_cache_dir (cache, repo_id);
  g_autofree char *commit = NULL;
  g_autofree char *snapshot = NULL;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(GError) error = NULL;
  const SmeltHubVariant *variant;
  const char *rev = revision != NULL ? revision : "main";
  g_autofree char *first = NULL;

  if (dir != NULL)
    return smelt_cli_fail ("HF_HUB_OFFLINE is set, so nothing can be downloaded into %s", dir);
  if (!smelt_hub_path_is_safe (repo_id) || !smelt_hub_path_is_safe (rev))
    return smelt_cli_fail ("\"%s\" is not a repository name: use owner/name", repo_id);
  if (strlen (rev) == 40)
    commit = g_strdup (rev);
  else
    {
      g_autofree char *ref = g_build_filename (repo_dir, "refs", rev, NULL);

      if (!g_file_get_contents (ref, &commit, NULL, NULL))
        return smelt_cli_fail ("HF_HUB_OFFLINE is set and %s (%s) is not in the cache %s", repo_id, rev, cache);
      g_strstrip (commit);
    }
  if (!smelt_hub_path_is_safe (commit))
    return smelt_cli_fail ("The cache's ref %s of %s is damaged", rev, repo_id);
  snapshot = g_build_filename (repo_dir, "snapshots", commit, NULL);
  collect_snapshot (snapshot, "", files);
  variants = smelt_hub_variants_from_files (files);
  variant = pick_variant (variants, wanted, 0, &error);
  if (variant == NULL)
    return smelt_cli_fail ("HF_HUB_OFFLINE is set and the cache has no such variant of %s: %s", repo_id,
                           error->message);
  first = g_build_filename (snapshot, ((SmeltHubFile *) g_ptr_array_index (variant->files, 0))->path, NULL);
  if (variant->split == SMELT_HUB_SPLIT_BYTES)
    {
      g_autofree char *joined = join_pieces (variant, first, &error);

      if (joined == NULL)
        return smelt_cli_fail ("Could not join the pieces of %s: %s", variant->name, error->message);
      printf ("%s\n", joined);
      return 0;
    }
  printf ("%s\n", first);
  return 0;
}

static void
draw_progress (Pull                    *pull,
               const SmeltDownloadInfo *info,
               gboolean                 final)
{
  g_autofree char *done = g_format_size (info->done_bytes);
  g_autofree char *total = g_format_size (info->total_bytes);
  g_autofree char *speed = g_format_size ((guint64) info->speed);
  double frac = info->total_bytes > 0 ? (double) info->done_bytes / (double) info->total_bytes : 0;
  char bar[31];
  guint filled = (guint) (frac * 30);
  gint64 now = g_get_monotonic_time ();
  g_autofree char *eta = NULL;

  if (!pull->tty)
    {
      /* Not a terminal: one plain line every 5 seconds. */
      if (!final && now - pull->last_line_us < 5 * G_USEC_PER_SEC)
        return;
      pull->last_line_us = now;
      fprintf (stderr, "%3.0f%%  %s / %s\n", frac * 100, done, total);
      return;
    }
  for (guint i = 0; i < 30; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[30] = '\0';
  if (info->eta_seconds >= 0)
    eta = g_strdup_printf ("%" G_GINT64_FORMAT ":%02" G_GINT64_FORMAT, info->eta_seconds / 60,
                           info->eta_seconds % 60);
  fprintf (stderr, "\r[%s] %3.0f%%  %s / %s  %s/s  ETA %s   ", bar, frac * 100, done, total, speed,
           eta != NULL ? eta : "-:--");
  if (final)
    fputc ('\n', stderr);
  fflush (stderr);
}

static void
on_changed_cb (SmeltDownloadManager *manager,
               guint                 id,
               gpointer              user_data)
{
  Pull *pull = user_data;
  g_autoptr(SmeltDownloadInfo) info = NULL;

  if (id != pull->id)
    return;
  info = smelt_download_manager_get_info (manager, id);
  if (info != NULL && info->state == SMELT_DOWNLOAD_RUNNING)
    draw_progress (pull, info, FALSE);
}

static void
on_finished_cb (SmeltDownloadManager *manager,
                guint                 id,
                gpointer              user_data)
{
  Pull *pull = user_data;

  if (id == pull->id)
    pull->finished = TRUE;
}

static gboolean
on_signal_cb (gpointer user_data)
{
  Pull *pull = user_data;

  pull->interrupted = TRUE;
  return G_SOURCE_CONTINUE;
}

int
smelt_cli_pull (int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("REPO[:VARIANT] - download a model from the Hub");
  g_autoptr(SmeltHubClient) client = smelt_hub_client_new ();
  g_autoptr(SmeltDownloadManager) manager = NULL;
  g_autofree char *state_path = NULL;
  g_autoptr(SmeltHubRepoInfo) repo_info = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(SmeltDownloadSpec) spec = NULL;
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *revision = NULL;
  g_autofree char *repo_id = NULL;
  g_autofree char *wanted = NULL;
  const SmeltHubVariant *variant;
  const char *colon;
  int connections = 4;
  guint sigint_id, sigterm_id;
  Pull pull = { 0 };
  GOptionEntry entries[] = {
    { "dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir, "Download into DIR instead of the Hugging Face cache", "DIR" },
    { "connections", 'c', 0, G_OPTION_ARG_INT, &connections, "Parallel connections per file (1-16, default 4)", "N" },
    { "revision", 'r', 0, G_OPTION_ARG_STRING, &revision, "Branch, tag or commit (default main)", "R" },
    { NULL },
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      fprintf (stderr, "smelt: pull needs one REPO[:VARIANT], e.g. bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M\n");
      return 2;
    }
  if (connections < 1 || connections > 16)
    {
      fprintf (stderr, "smelt: --connections must be between 1 and 16\n");
      return 2;
    }
  colon = strchr (argv[1], ':');
  repo_id = colon != NULL ? g_strndup (argv[1], (gsize) (colon - argv[1])) : g_strdup (argv[1]);
  wanted = colon != NULL && colon[1] != '\0' ? g_strdup (colon + 1) : NULL;

  if (smelt_hub_offline ())
    return pull_offline (repo_id, wanted, revision, dir);

  /* Pin the revision to a commit so every part comes from the same one. */
  smelt_hub_client_get_repo_async (client, repo_id, revision, NULL, smelt_cli_wait_cb, &result);
  repo_info = smelt_hub_client_get_repo_finish (client, smelt_cli_wait (&result), &error);
  g_clear_object (&result);
  if (repo_info == NULL)
    return smelt_cli_fail ("%s", error->message);
  variants = smelt_cli_list_variants (client, repo_id, repo_info->sha != NULL ? repo_info->sha : revision, &error);
  if (variants == NULL)
    return smelt_cli_fail ("%s", error->message);
  variant = pick_variant (variants, wanted,
                          repo_info->gguf_parameters > 0 ? (guint64) repo_info->gguf_parameters : 0, &error);
  if (variant == NULL)
    return smelt_cli_fail ("%s: %s", repo_id, error->message);

  spec = smelt_download_spec_new (smelt_hub_client_get_endpoint (client), repo_id,
                                  repo_info->sha != NULL ? repo_info->sha : (revision != NULL ? revision : "main"));
  spec->ref_name = g_strdup (revision != NULL ? revision : "main");
  spec->label = g_strdup (variant->name);
  if (dir != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (dir);

      spec->dest_dir = g_file_get_path (file);
    }
  for (guint i = 0; i < variant->files->len; i++)
    g_ptr_array_add (spec->files, smelt_hub_file_copy (g_ptr_array_index (variant->files, i)));

  /* A pull keeps its own state file, never the window's queue: the window and any number of
   * pulls can run at once, and the same command run again resumes from that file. */
  state_path = smelt_download_spec_state_path (spec);
  manager = smelt_download_manager_new (state_path, FALSE, &error);
  if (manager == NULL && g_error_matches (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_BUSY))
    return smelt_cli_fail ("Another smelt pull is already downloading %s %s", repo_id, variant->name);
  if (manager == NULL)
    return smelt_cli_fail ("%s", error->message);
  smelt_download_manager_set_connections (manager, (guint) connections);
  smelt_download_manager_set_token (manager, smelt_hub_client_get_token (client));

  pull.manager = manager;
  pull.tty = isatty (STDERR_FILENO);
  g_signal_connect (manager, "changed", G_CALLBACK (on_changed_cb), &pull);
  g_signal_connect (manager, "finished", G_CALLBACK (on_finished_cb), &pull);
  sigint_id = g_unix_signal_add (SIGINT, on_signal_cb, &pull);
  sigterm_id = g_unix_signal_add (SIGTERM, on_signal_cb, &pull);

  {
    g_autofree char *size = g_format_size (variant->size_bytes);

    fprintf (stderr, "Downloading %s %s (%s, %u file%s)\n", repo_id, variant->name, size,
             variant->files->len, variant->files->len == 1 ? "" : "s");
  }
  pull.id = smelt_download_manager_add (manager, spec);
  while (!pull.finished && !pull.interrupted)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);

  if (pull.interrupted)
    {
      /* Shutting the manager down saves every chunk's progress. */
      smelt_download_manager_shutdown (manager);
      fprintf (stderr, "\nStopped. Run the same command again to resume.\n");
      return 130;
    }

  info = smelt_download_manager_get_info (manager, pull.id);
  if (info == NULL || info->state != SMELT_DOWNLOAD_DONE)
    {
      if (pull.tty)
        fputc ('\n', stderr);
      return smelt_cli_fail ("%s", info != NULL && info->error != NULL ? info->error : "the download stopped");
    }
  draw_progress (&pull, info, TRUE);
  /* Done: nothing is left to resume. The lock file goes too; a pull of the same files starting
   * this very moment finds them complete in the cache either way. */
  smelt_download_manager_shutdown (manager);
  {
    g_autofree char *lock_path = g_strconcat (state_path, ".lock", NULL);

    g_unlink (state_path);
    g_unlink (lock_path);
  }
  if (variant->split == SMELT_HUB_SPLIT_BYTES)
    {
      g_autofree char *joined = join_pieces (variant, info->path, &error);

      if (joined == NULL)
        return smelt_cli_fail ("Could not join the pieces of %s: %s", variant->name, error->message);
      printf ("%s\n", joined);
      return 0;
    }
  printf ("%s\n", info->path);
  return 0;
}
