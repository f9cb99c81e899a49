/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-download.c: SmeltDownloadManager against the loopback fake Hub over real HTTP. A 3-part
 * split variant is fetched into the huggingface_hub cache layout through every fault the fake
 * Hub can inject (dropped connection, 500, 429 + Retry-After, short body, wrong bytes, ignored
 * Range); a hash that stays wrong fails cleanly; nothing bad is ever left under a final name;
 * pause, resume, cancel; a queue that survives a restart; and `smelt pull` killed with SIGKILL
 * resumes without fetching again the bytes it had recorded.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "smelt-download-manager.h"
#include "smelt-fake-hub.h"

#define REPO  "org/Split-GGUF"
#define PART1 "Q8_0/Split-Q8_0-00001-of-00003.gguf"
#define PART2 "Q8_0/Split-Q8_0-00002-of-00003.gguf"
#define PART3 "Q8_0/Split-Q8_0-00003-of-00003.gguf"
#define PART_SIZE 400000

static const char *parts[] = { PART1, PART2, PART3 };

typedef struct
{
  SmeltFakeHub         *hub;
  char                 *tmp;
  char                 *cache;
  char                 *state;
  SmeltDownloadManager *manager;
  guint                 finished_id;
  guint                 n_changed;
  gboolean              saw_speed;
} Fixture;

static GBytes *
pattern_bytes (gsize size,
               guint seed)
{
  guchar *data = g_malloc (size);
  guint32 x = seed * 2654435761u + 1;

  for (gsize i = 0; i < size; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      data[i] = (guchar) x;
    }
  return g_bytes_new_take (data, size);
}

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          rm_rf (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static void
on_finished_cb (SmeltDownloadManager *manager,
                guint                 id,
                gpointer              user_data)
{
  Fixture *f = user_data;

  f->finished_id = id;
}

static void
on_changed_cb (SmeltDownloadManager *manager,
               guint                 id,
               gpointer              user_data)
{
  Fixture *f = user_data;
  g_autoptr(SmeltDownloadInfo) info = smelt_download_manager_get_info (manager, id);

  f->n_changed++;
  if (info != NULL && info->state == SMELT_DOWNLOAD_RUNNING && info->speed > 0 && info->eta_seconds >= 0)
    f->saw_speed = TRUE;
}

static SmeltDownloadManager *
make_manager (Fixture *f,
              gboolean autostart)
{
  g_autoptr(GError) error = NULL;
  SmeltDownloadManager *m = smelt_download_manager_new (f->state, autostart, &error);

  g_assert_no_error (error);
  smelt_download_manager_set_cache_dir (m, f->cache);
  smelt_download_manager_set_connections (m, 3);
  g_signal_connect (m, "finished", G_CALLBACK (on_finished_cb), f);
  g_signal_connect (m, "changed", G_CALLBACK (on_changed_cb), f);
  return m;
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->hub = smelt_fake_hub_new ();
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GBytes) bytes = pattern_bytes (PART_SIZE + i * 1000, i + 1);

      smelt_fake_hub_add_file (f->hub, REPO, parts[i], bytes);
    }
  {
    g_autoptr(GBytes) small = g_bytes_new_static ("tiny git file\n", 14);

    smelt_fake_hub_add_file (f->hub, REPO, "notes.txt", small);
  }
  g_assert_true (smelt_fake_hub_start (f->hub, 0, &error));
  f->tmp = g_dir_make_tmp ("smelt-download-XXXXXX", &error);
  g_assert_no_error (error);
  f->cache = g_build_filename (f->tmp, "hub", NULL);
  f->state = g_build_filename (f->tmp, "state", "downloads.json", NULL);
  f->manager = make_manager (f, TRUE);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->manager);
  /* Updates still queued for the main loop are dropped, not delivered to a dead manager. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_pointer (&f->hub, smelt_fake_hub_free);
  rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->cache);
  g_free (f->state);
}

static SmeltDownloadSpec *
make_spec (Fixture    *f,
           const char *dest_dir)
{
  SmeltDownloadSpec *spec = smelt_download_spec_new (smelt_fake_hub_get_url (f->hub), REPO,
                                                     smelt_fake_hub_get_commit (f->hub, REPO));

  spec->ref_name = g_strdup ("main");
  spec->label = g_strdup ("Q8_0");
  spec->dest_dir = g_strdup (dest_dir);
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (spec->files, smelt_hub_file_new (parts[i], PART_SIZE + i * 1000,
                                                      smelt_fake_hub_get_sha256 (f->hub, REPO, parts[i])));
  return spec;
}

static SmeltDownloadInfo *
wait_finished (Fixture *f,
               guint    id)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  f->finished_id = 0;
  while (f->finished_id != id)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
  return smelt_download_manager_get_info (f->manager, id);
}

static char *
sha256_of_file (const char *path)
{
  g_autofree char *contents = NULL;
  gsize len;

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
}

/* Every file under the cache is either a complete, correct blob, a snapshot link, a ref, or
 * (when `allow_parts`) a `.part`: never anything wrong under a final name. */
static void
assert_cache_clean (Fixture *f,
                    gboolean allow_parts)
{
  g_autofree char *blobs = g_build_filename (f->cache, "models--org--Split-GGUF", "blobs", NULL);
  g_autoptr(GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (blobs, name, NULL);

      if (g_str_has_suffix (name, ".part"))
        {
          g_assert_true (allow_parts);
          continue;
        }
      {
        g_autofree char *sha = sha256_of_file (path);

        g_assert_cmpstr (sha, ==, name);
      }
    }
}

static void
assert_snapshot_complete (Fixture *f)
{
  const char *commit = smelt_fake_hub_get_commit (f->hub, REPO);
  g_autofree char *repo_dir = g_build_filename (f->cache, "models--org--Split-GGUF", NULL);
  g_autofree char *ref = g_build_filename (repo_dir, "refs", "main", NULL);
  g_autofree char *ref_text = NULL;

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *link = g_build_filename (repo_dir, "snapshots", commit, parts[i], NULL);
      g_autofree char *target = g_file_read_link (link, NULL);
      g_autofree char *expected = g_strdup_printf ("../../../blobs/%s",
                                                   smelt_fake_hub_get_sha256 (f->hub, REPO, parts[i]));
      g_autofree char *sha = sha256_of_file (link);

      g_assert_cmpstr (target, ==, expected);
      g_assert_cmpstr (sha, ==, smelt_fake_hub_get_sha256 (f->hub, REPO, parts[i]));
    }
  g_assert_true (g_file_get_contents (ref, &ref_text, NULL, NULL));
  g_assert_cmpstr (ref_text, ==, commit);
  assert_cache_clean (f, FALSE);
}

static guint64
total_size (void)
{
  return 3 * PART_SIZE + 3000;
}

static void
test_cache_layout (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autoptr(SmeltDownloadInfo) again = NULL;
  guint id;

  id = smelt_download_manager_add (f->manager, spec);
  info = wait_finished (f, id);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  g_assert_cmpuint (info->done_bytes, ==, total_size ());
  g_assert_cmpuint (info->total_bytes, ==, total_size ());
  g_assert_cmpuint (info->n_files_done, ==, 3);
  g_assert_true (g_str_has_suffix (info->path, PART1));
  assert_snapshot_complete (f);
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, NULL), ==, total_size ());

  /* Asking again: the blobs are there, not one more byte is fetched. */
  id = smelt_download_manager_add (f->manager, spec);
  again = wait_finished (f, id);
  g_assert_cmpint (again->state, ==, SMELT_DOWNLOAD_DONE);
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, NULL), ==, total_size ());
  g_clear_pointer (&again, smelt_download_info_free);

  /* One blob deleted behind Smelt's back: asking again fetches that file only. */
  {
    g_autofree char *blob = g_build_filename (f->cache, "models--org--Split-GGUF", "blobs",
                                              smelt_fake_hub_get_sha256 (f->hub, REPO, PART3), NULL);

    g_assert_cmpint (g_unlink (blob), ==, 0);
    id = smelt_download_manager_add (f->manager, spec);
    again = wait_finished (f, id);
    g_assert_cmpint (again->state, ==, SMELT_DOWNLOAD_DONE);
    g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, NULL), ==, total_size () + PART_SIZE + 2000);
    assert_snapshot_complete (f);
  }
}

static void
test_renamed_repo (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autofree char *link = NULL;

  /* The job names the old repo; HEADs follow the Hub's relative redirect to the new name. */
  smelt_fake_hub_add_alias (f->hub, "old/Split-GGUF", REPO);
  g_free (spec->repo_id);
  spec->repo_id = g_strdup ("old/Split-GGUF");
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  link = g_build_filename (f->cache, "models--old--Split-GGUF", "snapshots",
                           smelt_fake_hub_get_commit (f->hub, REPO), PART1, NULL);
  g_assert_cmpstr (info->path, ==, link);
  g_assert_true (g_file_test (link, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpstr (smelt_fake_hub_get_last_user_agent (f->hub), ==, "smelt/" PACKAGE_VERSION);
}

static void
test_cache_lock (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autofree char *locks = g_build_filename (f->cache, ".locks", "models--org--Split-GGUF", NULL);
  g_autofree char *name = g_strconcat (smelt_fake_hub_get_sha256 (f->hub, REPO, PART1), ".lock", NULL);
  g_autofree char *lock = g_build_filename (locks, name, NULL);
  gint64 until;
  int fd;
  guint id;

  /* Another process (huggingface_hub, another Smelt) holds the blob's lock: that file waits,
   * the others go on; once the lock is released it completes. */
  g_assert_cmpint (g_mkdir_with_parents (locks, 0755), ==, 0);
  fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX), ==, 0);
  id = smelt_download_manager_add (f->manager, spec);
  until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (smelt_fake_hub_get_bytes_served (f->hub, PART3) < PART_SIZE + 2000)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, until);
      g_main_context_iteration (NULL, TRUE);
    }
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, PART1), ==, 0);
  close (fd);
  info = wait_finished (f, id);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  assert_snapshot_complete (f);
}

static void
test_git_file (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = smelt_download_spec_new (smelt_fake_hub_get_url (f->hub), REPO, "main");
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autofree char *dest = g_build_filename (f->tmp, "plain", NULL);
  g_autofree char *path = g_build_filename (dest, "notes.txt", NULL);
  g_autofree char *text = NULL;

  /* A small non-LFS file into a plain folder: checked by its git blob sha1 (the ETag). */
  spec->dest_dir = g_strdup (dest);
  g_ptr_array_add (spec->files, smelt_hub_file_new ("notes.txt", 14, NULL));
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  g_assert_cmpstr (info->path, ==, path);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "tiny git file\n");
}

typedef struct
{
  SmeltFakeHubFault fault;
  guint64           arg;
  guint             count;
} FaultCase;

static void
test_fault (Fixture       *f,
            gconstpointer  data)
{
  const FaultCase *fc = data;
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;

  smelt_fake_hub_add_fault (f->hub, PART2, fc->fault, fc->arg, fc->count);
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  if (info->error != NULL)
    g_test_message ("%s", info->error);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  g_assert_cmpuint (smelt_fake_hub_get_faults_left (f->hub), ==, 0);
  assert_snapshot_complete (f);
}

static void
test_verify_fails (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autofree char *blob = g_build_filename (f->cache, "models--org--Split-GGUF", "blobs",
                                            smelt_fake_hub_get_sha256 (f->hub, REPO, PART2), NULL);
  g_autofree char *part = g_strconcat (blob, ".part", NULL);

  smelt_fake_hub_add_fault (f->hub, PART2, SMELT_FAKE_HUB_FAULT_WRONG_BYTES, 1234, 1000);
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_FAILED);
  g_assert_cmpint (info->error_code, ==, SMELT_DOWNLOAD_ERROR_VERIFY);
  g_test_message ("%s", info->error);
  g_assert_nonnull (strstr (info->error, "twice"));
  g_assert_false (g_file_test (blob, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  assert_cache_clean (f, TRUE);
}

static void
test_http_errors (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;

  smelt_fake_hub_set_gated (f->hub, REPO, TRUE);
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_FAILED);
  g_assert_cmpint (info->error_code, ==, SMELT_DOWNLOAD_ERROR_HTTP);
  g_assert_nonnull (strstr (info->error, "gated"));
  g_clear_pointer (&info, smelt_download_info_free);

  /* With the token it goes through; the CDN (another origin) never sees the token. */
  smelt_fake_hub_set_token (f->hub, "hf_good");
  smelt_fake_hub_set_cdn_host (f->hub, "localhost");
  smelt_download_manager_set_token (f->manager, "hf_good");
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  assert_snapshot_complete (f);
  g_assert_cmpuint (smelt_fake_hub_get_file_requests (f->hub), >=, 3);
  g_assert_cmpuint (smelt_fake_hub_get_cdn_auth_requests (f->hub), ==, 0);
  g_clear_pointer (&info, smelt_download_info_free);

  /* HF_HUB_OFFLINE: no request at all, a clear failure. */
  {
    g_autofree char *dest = g_build_filename (f->tmp, "offline", NULL);
    g_autoptr(SmeltDownloadSpec) spec2 = make_spec (f, dest);
    guint before = smelt_fake_hub_get_file_requests (f->hub);

    g_setenv ("HF_HUB_OFFLINE", "1", TRUE);
    info = wait_finished (f, smelt_download_manager_add (f->manager, spec2));
    g_unsetenv ("HF_HUB_OFFLINE");
    g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_FAILED);
    g_assert_nonnull (strstr (info->error, "HF_HUB_OFFLINE"));
    g_assert_cmpuint (smelt_fake_hub_get_file_requests (f->hub), ==, before);
  }
}

static void
test_no_space (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;

  /* The Hub announces an exabyte: refused before a single byte is fetched. */
  smelt_fake_hub_set_announced_size (f->hub, REPO, PART2, G_GUINT64_CONSTANT (1) << 60);
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_FAILED);
  g_assert_cmpint (info->error_code, ==, SMELT_DOWNLOAD_ERROR_NO_SPACE);
  g_test_message ("%s", info->error);
  g_assert_nonnull (strstr (info->error, "Not enough disk space"));
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, PART2), ==, 0);
  assert_cache_clean (f, TRUE);
}

static void
test_stall_timeout (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;
  gint64 start;

  /* A server that stops sending mid-body: the 1 s no-progress timeout cuts it and the chunk
   * resumes. */
  g_clear_object (&f->manager);
  g_setenv ("SMELT_DOWNLOAD_STALL_TIMEOUT", "1", TRUE);
  f->manager = make_manager (f, TRUE);
  g_setenv ("SMELT_DOWNLOAD_STALL_TIMEOUT", "5", TRUE);
  smelt_fake_hub_add_fault (f->hub, PART2, SMELT_FAKE_HUB_FAULT_STALL, 30000, 1);
  start = g_get_monotonic_time ();
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC);
  g_assert_cmpuint (smelt_fake_hub_get_faults_left (f->hub), ==, 0);
  assert_snapshot_complete (f);
}

static void
test_unsafe_spec (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;

  /* Whatever a caller passes, nothing is written outside the destination. */
  g_ptr_array_add (spec->files, smelt_hub_file_new ("../../outside.gguf", 10, NULL));
  info = wait_finished (f, smelt_download_manager_add (f->manager, spec));
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_FAILED);
  g_assert_nonnull (strstr (info->error, "unsafe"));
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub), ==, 0);
}

static void
test_state_file (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(SmeltDownloadManager) m = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (f->state);
  g_autofree char *json = g_strdup_printf (
    "{\"version\":1,\"jobs\":["
    /* hostile path: dropped */
    "{\"id\":1,\"endpoint\":\"%s\",\"repo\":\"org/x\",\"revision\":\"main\",\"state\":\"paused\","
    "\"files\":[{\"path\":\"../../etc/passwd\",\"size\":1}]},"
    /* hostile repo: dropped */
    "{\"id\":2,\"endpoint\":\"%s\",\"repo\":\"../x\",\"revision\":\"main\",\"state\":\"paused\","
    "\"files\":[{\"path\":\"a.gguf\",\"size\":1}]},"
    /* chunks that do not tile the file: kept, progress dropped */
    "{\"id\":3,\"endpoint\":\"%s\",\"repo\":\"%s\",\"revision\":\"main\",\"state\":\"running\","
    "\"files\":[{\"path\":\"%s\",\"size\":%d,\"etag\":\"%s\",\"total\":%d,"
    "\"chunks\":[[0,10,10],[20,30,25]]}]},"
    "42, {\"id\":\"x\"}]}",
    smelt_fake_hub_get_url (f->hub), smelt_fake_hub_get_url (f->hub), smelt_fake_hub_get_url (f->hub), REPO,
    PART1, PART_SIZE, smelt_fake_hub_get_sha256 (f->hub, REPO, PART1), PART_SIZE);
  SmeltDownloadInfo *info;

  g_clear_object (&f->manager);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (f->state, json, -1, NULL));
  m = smelt_download_manager_new (f->state, FALSE, &error);
  g_assert_no_error (error);
  list = smelt_download_manager_list (m);
  g_assert_cmpuint (list->len, ==, 1);
  info = g_ptr_array_index (list, 0);
  g_assert_cmpuint (info->id, ==, 3);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_PAUSED);
  g_assert_cmpuint (info->done_bytes, ==, 0);
  g_clear_object (&m);

  /* Not JSON at all: a clear error, and the file is left for the user to look at. */
  g_assert_true (g_file_set_contents (f->state, "{{{", -1, NULL));
  m = smelt_download_manager_new (f->state, TRUE, &error);
  g_assert_null (m);
  g_assert_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_STATE);
  g_assert_true (g_file_test (f->state, G_FILE_TEST_EXISTS));
}

static void
test_pause_resume_cancel (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autoptr(SmeltDownloadInfo) paused = NULL;
  guint64 served_at_pause;
  guint id;

  smelt_download_manager_set_connections (f->manager, 1);
  smelt_fake_hub_add_fault (f->hub, NULL, SMELT_FAKE_HUB_FAULT_SLOW, 4096, 3);
  id = smelt_download_manager_add (f->manager, spec);
  {
    gint64 start = g_get_monotonic_time ();
    double seconds;

    /* Throttled to ~0.4 MB/s a stream: long enough to see speed, ETA and the update rate. */
    f->n_changed = 0;
    while (smelt_fake_hub_get_bytes_served (f->hub, NULL) < 700000)
      g_main_context_iteration (NULL, TRUE);
    seconds = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
    g_test_message ("%u updates in %.2f s", f->n_changed, seconds);
    g_assert_true (f->saw_speed);
    g_assert_cmpfloat (f->n_changed, <=, 22 * seconds + 6);
    g_assert_cmpuint (f->n_changed, >=, 3);
  }
  smelt_download_manager_pause (f->manager, id);
  do
    {
      g_clear_pointer (&paused, smelt_download_info_free);
      g_main_context_iteration (NULL, TRUE);
      paused = smelt_download_manager_get_info (f->manager, id);
    }
  while (paused->state != SMELT_DOWNLOAD_PAUSED);
  g_assert_cmpuint (paused->done_bytes, >, 0);
  g_assert_cmpuint (paused->done_bytes, <, total_size ());
  /* Let the server notice the closed connections before counting. */
  {
    gint64 until = g_get_monotonic_time () + 200 * 1000;

    while (g_get_monotonic_time () < until)
      g_main_context_iteration (NULL, FALSE), g_usleep (2000);
  }
  served_at_pause = smelt_fake_hub_get_bytes_served (f->hub, NULL);

  smelt_download_manager_resume (f->manager, id);
  info = wait_finished (f, id);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  assert_snapshot_complete (f);
  /* What was on disk at the pause was not fetched again (allowing for bytes in flight). */
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, NULL), <=,
                    total_size () + (served_at_pause - paused->done_bytes));

  /* Cancel deletes the partial data and forgets the job. */
  {
    g_autofree char *dest = g_build_filename (f->tmp, "plain", NULL);
    g_autoptr(SmeltDownloadSpec) spec2 = make_spec (f, dest);
    g_autofree char *part = g_build_filename (dest, PART1 ".part", NULL);
    guint64 before = smelt_fake_hub_get_bytes_served (f->hub, NULL);

    smelt_fake_hub_add_fault (f->hub, NULL, SMELT_FAKE_HUB_FAULT_SLOW, 8192, 3);
    id = smelt_download_manager_add (f->manager, spec2);
    while (smelt_fake_hub_get_bytes_served (f->hub, NULL) < before + 50000)
      g_main_context_iteration (NULL, TRUE);
    smelt_download_manager_cancel (f->manager, id);
    g_clear_pointer (&info, smelt_download_info_free);
    info = wait_finished (f, id);
    g_assert_null (info);
    g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  }
}

static void
test_changed_upstream (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *dest = g_build_filename (f->tmp, "plain", NULL);
  g_autofree char *final = g_build_filename (dest, PART1, NULL);
  g_autoptr(SmeltDownloadSpec) spec = smelt_download_spec_new (smelt_fake_hub_get_url (f->hub), REPO,
                                                               smelt_fake_hub_get_commit (f->hub, REPO));
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autoptr(GBytes) replaced = pattern_bytes (PART_SIZE, 99);
  g_autofree char *sha = NULL;
  guint64 before;
  guint id;

  spec->dest_dir = g_strdup (dest);
  g_ptr_array_add (spec->files, smelt_hub_file_new (PART1, PART_SIZE, NULL));
  smelt_download_manager_set_connections (f->manager, 1);
  smelt_fake_hub_add_fault (f->hub, NULL, SMELT_FAKE_HUB_FAULT_SLOW, 16384, 1);
  id = smelt_download_manager_add (f->manager, spec);
  while (smelt_fake_hub_get_bytes_served (f->hub, NULL) < 100000)
    g_main_context_iteration (NULL, TRUE);
  smelt_download_manager_pause (f->manager, id);

  /* Re-uploaded in place: the old prefix belongs to another file and must not be kept. */
  smelt_fake_hub_add_file (f->hub, REPO, PART1, replaced);
  smelt_fake_hub_clear_faults (f->hub);
  {
    gint64 until = g_get_monotonic_time () + 200 * 1000;

    while (g_get_monotonic_time () < until)
      g_main_context_iteration (NULL, FALSE), g_usleep (2000);
  }
  before = smelt_fake_hub_get_bytes_served (f->hub, NULL);
  smelt_download_manager_resume (f->manager, id);
  info = wait_finished (f, id);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  sha = sha256_of_file (final);
  g_assert_cmpstr (sha, ==, smelt_fake_hub_get_sha256 (f->hub, REPO, PART1));
  /* Exactly one fresh copy: no resumed prefix, no failed verification and second try. */
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, NULL) - before, ==, PART_SIZE);
}

static void
test_queue_restart (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f, NULL);
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_autoptr(GPtrArray) list = NULL;
  guint64 recorded;
  guint id;

  /* A gated repo: the token, set after the manager is made, must reach resumed jobs too. */
  smelt_fake_hub_set_gated (f->hub, REPO, TRUE);
  smelt_fake_hub_set_token (f->hub, "hf_queue");
  smelt_download_manager_set_token (f->manager, "hf_queue");
  smelt_download_manager_set_connections (f->manager, 1);
  smelt_fake_hub_add_fault (f->hub, NULL, SMELT_FAKE_HUB_FAULT_SLOW, 16384, 3);
  id = smelt_download_manager_add (f->manager, spec);
  while (smelt_fake_hub_get_bytes_served (f->hub, NULL) < 150000)
    g_main_context_iteration (NULL, TRUE);

  /* The process "ends": the worker stops and saves. */
  g_clear_object (&f->manager);
  smelt_fake_hub_clear_faults (f->hub);
  {
    g_autofree char *json = NULL;

    g_assert_true (g_file_get_contents (f->state, &json, NULL, NULL));
    g_assert_nonnull (strstr (json, REPO));
    g_assert_null (strstr (json, "hf_queue"));
  }

  /* A new manager finds the job and, with autostart, finishes it. */
  f->manager = make_manager (f, TRUE);
  smelt_download_manager_set_token (f->manager, "hf_queue");
  list = smelt_download_manager_list (f->manager);
  g_assert_cmpuint (list->len, ==, 1);
  {
    SmeltDownloadInfo *first = g_ptr_array_index (list, 0);

    g_assert_cmpuint (first->id, ==, id);
    g_assert_cmpint (first->state, ==, SMELT_DOWNLOAD_QUEUED);
    recorded = first->done_bytes;
  }
  g_assert_cmpuint (recorded, >, 0);
  info = wait_finished (f, id);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  assert_snapshot_complete (f);
  /* Only what was not recorded was fetched again (plus bytes in flight at the stop). */
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (f->hub, NULL), <, total_size () + 200000);
}

/* ---- a killed `smelt pull` resumes ----------------------------------------------------------- */

static guint64 state_file_bytes (const char *state_path);

/* `smelt pull` keeps its state in <data home>/smelt/pulls/<hash>.json: the bytes recorded in
 * every state file there. */
static guint64
recorded_bytes (const char *pulls_dir)
{
  g_autoptr(GDir) dir = g_dir_open (pulls_dir, 0, NULL);
  const char *name;
  guint64 sum = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".json"))
      {
        g_autofree char *path = g_build_filename (pulls_dir, name, NULL);

        sum += state_file_bytes (path);
      }
  return sum;
}

static guint
count_state_files (const char *pulls_dir)
{
  g_autoptr(GDir) dir = g_dir_open (pulls_dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    n += g_str_has_suffix (name, ".json");
  return n;
}

static guint64
state_file_bytes (const char *state_path)
{
  g_autofree char *json = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonArray *jobs;
  guint64 sum = 0;

  if (!g_file_get_contents (state_path, &json, NULL, NULL) || !json_parser_load_from_data (parser, json, -1, NULL))
    return 0;
  jobs = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "jobs");
  for (guint j = 0; j < json_array_get_length (jobs); j++)
    {
      JsonArray *files = json_object_get_array_member (json_array_get_object_element (jobs, j), "files");

      for (guint i = 0; i < json_array_get_length (files); i++)
        {
          JsonObject *file = json_array_get_object_element (files, i);
          JsonArray *chunks = json_object_get_array_member (file, "chunks");

          if (json_object_get_boolean_member (file, "done"))
            {
              sum += (guint64) json_object_get_int_member (file, "total");
              continue;
            }
          for (guint c = 0; c < json_array_get_length (chunks); c++)
            {
              JsonArray *chunk = json_array_get_array_element (chunks, c);

              sum += (guint64) (json_array_get_int_element (chunk, 2) - json_array_get_int_element (chunk, 0));
            }
        }
    }
  return sum;
}

static void
on_exit_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  gboolean *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *exited = TRUE;
}

typedef struct
{
  const char *connections;
  int         signal;
} KillCase;

/* Bytes of the finished (renamed, non-.part) blobs of the test repo. */
static guint64
complete_blob_bytes (Fixture *f)
{
  g_autofree char *blobs = g_build_filename (f->cache, "models--org--Split-GGUF", "blobs", NULL);
  g_autoptr(GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;
  guint64 sum = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (blobs, name, NULL);
      GStatBuf st;

      if (!g_str_has_suffix (name, ".part") && g_stat (path, &st) == 0)
        sum += (guint64) st.st_size;
    }
  return sum;
}

static GSubprocess *
spawn_pull (Fixture    *f,
            const char *connections,
            gboolean   *exited)
{
  g_autofree char *smelt = g_build_filename (g_getenv ("SMELT_BUILD_DIR"), "src", "app", "smelt", NULL);
  g_autofree char *data_home = g_build_filename (f->tmp, "state-home", NULL);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_setenv (launcher, "HF_ENDPOINT", smelt_fake_hub_get_url (f->hub), TRUE);
  g_subprocess_launcher_setenv (launcher, "HF_HUB_CACHE", f->cache, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_home, TRUE);
  g_subprocess_launcher_setenv (launcher, "HF_TOKEN_PATH", "/nonexistent/smelt-test-token", TRUE);
  g_subprocess_launcher_setenv (launcher, "SMELT_DOWNLOAD_STALL_TIMEOUT", "60", TRUE);
  *exited = FALSE;
  proc = g_subprocess_launcher_spawn (launcher, &error, smelt, "pull", REPO ":Q8_0", "--connections", connections, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (proc, NULL, on_exit_cb, exited);
  return proc;
}

static void
test_kill_resume (Fixture       *f,
                  gconstpointer  data)
{
  const KillCase *kc = data;
  g_autofree char *smelt = g_build_filename (g_getenv ("SMELT_BUILD_DIR"), "src", "app", "smelt", NULL);
  g_autofree char *state = g_build_filename (f->tmp, "state-home", "smelt", "pulls", NULL);
  g_autoptr(GSubprocess) proc = NULL;
  gboolean exited;
  guint64 served_before, recorded, served_after, blob_bytes_before;
  gint64 until;

  if (!g_file_test (smelt, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("smelt binary not built");
      return;
    }
  /* The first request for part 2 stalls after 30000 bytes: the process is stopped while it
   * waits (other chunks and parts go on meanwhile when there are several connections). */
  smelt_fake_hub_add_fault (f->hub, PART2, SMELT_FAKE_HUB_FAULT_STALL, 30000, 1);
  proc = spawn_pull (f, kc->connections, &exited);
  while (smelt_fake_hub_get_bytes_served (f->hub, PART2) < 30000 && !exited)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (exited);
  /* Let a periodic save (every 0.5 s) record the stalled prefix, then stop it. */
  until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (recorded_bytes (state) < 30000)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, until);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
  g_subprocess_send_signal (proc, kc->signal);
  while (!exited)
    g_main_context_iteration (NULL, TRUE);
  if (kc->signal == SIGINT)
    {
      /* Ctrl-C: a clean stop with status 130 and everything saved. */
      g_assert_true (g_subprocess_get_if_exited (proc));
      g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 130);
    }
  else
    g_assert_true (g_subprocess_get_if_signaled (proc));
  g_clear_object (&proc);

  served_before = smelt_fake_hub_get_bytes_served (f->hub, NULL);
  recorded = recorded_bytes (state);
  blob_bytes_before = complete_blob_bytes (f);
  g_test_message ("served %" G_GUINT64_FORMAT ", recorded %" G_GUINT64_FORMAT, served_before, recorded);
  g_assert_cmpuint (recorded, >=, 30000);
  g_assert_cmpuint (recorded, <, total_size ());
  assert_cache_clean (f, TRUE);

  /* Run again: it resumes and fetches exactly what was not recorded, not one byte more. */
  proc = spawn_pull (f, kc->connections, &exited);
  while (!exited)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
  served_after = smelt_fake_hub_get_bytes_served (f->hub, NULL) - served_before;
  /* Nothing recorded is fetched again. A part that was verified and renamed into blobs/ just
   * before the kill, with the save that marks it done not yet written, is not fetched either:
   * allow for exactly those whole blobs, nothing else. */
  g_assert_cmpuint (served_after, <=, total_size () - recorded);
  g_assert_cmpuint (served_after + blob_bytes_before, >=, total_size () - recorded);
  assert_snapshot_complete (f);
}

/* The window's queue and `smelt pull` never share a state file (two writers would overwrite
 * each other's jobs): a pull runs while a manager holds the default queue, and a second identical
 * pull is refused while the first runs instead of corrupting its state. */
static void
test_pull_beside_window (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *smelt = g_build_filename (g_getenv ("SMELT_BUILD_DIR"), "src", "app", "smelt", NULL);
  g_autofree char *window_state = g_build_filename (f->tmp, "state-home", "smelt", "downloads.json", NULL);
  g_autofree char *pulls = g_build_filename (f->tmp, "state-home", "smelt", "pulls", NULL);
  g_autoptr(SmeltDownloadManager) window = NULL;
  g_autoptr(SmeltDownloadManager) again = NULL;
  g_autoptr(GSubprocess) first = NULL;
  g_autoptr(GSubprocess) second = NULL;
  g_autoptr(GPtrArray) jobs = NULL;
  g_autoptr(GError) error = NULL;
  gboolean first_exited, second_exited;

  (void) data;
  if (!g_file_test (smelt, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("smelt binary not built");
      return;
    }
  window = smelt_download_manager_new (window_state, TRUE, &error);
  g_assert_no_error (error);
  /* A second owner of one state file is refused, in this process as in any other. */
  again = smelt_download_manager_new (window_state, TRUE, &error);
  g_assert_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_BUSY);
  g_assert_null (again);
  g_clear_error (&error);

  smelt_fake_hub_add_fault (f->hub, PART2, SMELT_FAKE_HUB_FAULT_STALL, 30000, 1);
  first = spawn_pull (f, "1", &first_exited);
  while (smelt_fake_hub_get_bytes_served (f->hub, PART2) < 30000 && !first_exited)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (first_exited);
  g_assert_cmpuint (count_state_files (pulls), ==, 1);

  second = spawn_pull (f, "1", &second_exited);
  while (!second_exited)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_subprocess_get_if_exited (second));
  g_assert_cmpint (g_subprocess_get_exit_status (second), ==, 1);

  /* The first pull waits on the stalled part (its stall timeout is a minute): stop it and run it
   * again to the end. */
  g_subprocess_send_signal (first, SIGINT);
  while (!first_exited)
    g_main_context_iteration (NULL, TRUE);
  g_clear_object (&first);
  first = spawn_pull (f, "1", &first_exited);
  while (!first_exited)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_subprocess_get_if_exited (first));
  g_assert_cmpint (g_subprocess_get_exit_status (first), ==, 0);
  assert_snapshot_complete (f);
  /* A finished pull leaves no state behind, and the window's queue was never written. */
  g_assert_cmpuint (count_state_files (pulls), ==, 0);
  jobs = smelt_download_manager_list (window);
  g_assert_cmpuint (jobs->len, ==, 0);
  g_assert_false (g_file_test (window_state, G_FILE_TEST_EXISTS));
}

static const KillCase kill_one = { "1", SIGKILL };
static const KillCase kill_many = { "3", SIGKILL };
static const KillCase interrupt = { "3", SIGINT };
static const FaultCase drop = { SMELT_FAKE_HUB_FAULT_DROP, 70000, 2 };
static const FaultCase err500 = { SMELT_FAKE_HUB_FAULT_STATUS_500, 0, 2 };
static const FaultCase err429 = { SMELT_FAKE_HUB_FAULT_STATUS_429, 1, 1 };
static const FaultCase shortbody = { SMELT_FAKE_HUB_FAULT_SHORT, 1000, 1 };
static const FaultCase wrong = { SMELT_FAKE_HUB_FAULT_WRONG_BYTES, 5000, 1 };
static const FaultCase ignore_range = { SMELT_FAKE_HUB_FAULT_IGNORE_RANGE, 0, 1 };

int
main (int    argc,
      char **argv)
{
  /* Small chunks so a 400 kB part is fetched in several ranges; short backoffs. */
  g_setenv ("SMELT_DOWNLOAD_CHUNK_SIZE", "131072", TRUE);
  g_setenv ("SMELT_DOWNLOAD_BACKOFF_MS", "20", TRUE);
  g_setenv ("SMELT_DOWNLOAD_STALL_TIMEOUT", "5", TRUE);
  g_setenv ("HF_TOKEN_PATH", "/nonexistent/smelt-test-token", TRUE);
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("http_proxy");
  g_unsetenv ("HTTP_PROXY");
  g_unsetenv ("all_proxy");
  g_setenv ("no_proxy", "127.0.0.1,localhost", TRUE);

  g_test_init (&argc, &argv, NULL);
#define ADD(name, func, data) g_test_add (name, Fixture, data, fixture_setup, func, fixture_teardown)
  ADD ("/download/cache-layout", test_cache_layout, NULL);
  ADD ("/download/git-file", test_git_file, NULL);
  ADD ("/download/renamed-repo", test_renamed_repo, NULL);
  ADD ("/download/cache-lock", test_cache_lock, NULL);
  ADD ("/download/fault/drop", test_fault, &drop);
  ADD ("/download/fault/500", test_fault, &err500);
  ADD ("/download/fault/429", test_fault, &err429);
  ADD ("/download/fault/short", test_fault, &shortbody);
  ADD ("/download/fault/wrong-bytes", test_fault, &wrong);
  ADD ("/download/fault/ignore-range", test_fault, &ignore_range);
  ADD ("/download/verify-fails", test_verify_fails, NULL);
  ADD ("/download/http-errors", test_http_errors, NULL);
  ADD ("/download/state-file", test_state_file, NULL);
  ADD ("/download/unsafe-spec", test_unsafe_spec, NULL);
  ADD ("/download/no-space", test_no_space, NULL);
  ADD ("/download/fault/stall-timeout", test_stall_timeout, NULL);
  ADD ("/download/pause-resume-cancel", test_pause_resume_cancel, NULL);
  ADD ("/download/queue-restart", test_queue_restart, NULL);
  ADD ("/download/changed-upstream", test_changed_upstream, NULL);
  ADD ("/download/kill-resume/one-connection", test_kill_resume, &kill_one);
  ADD ("/download/kill-resume/three-connections", test_kill_resume, &kill_many);
  ADD ("/download/kill-resume/ctrl-c", test_kill_resume, &interrupt);
  ADD ("/download/pull-beside-window", test_pull_beside_window, NULL);
#undef ADD
  return g_test_run ();
}
