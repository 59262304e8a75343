/* A libnice ICE agent driven by lines on stdin and stdout, for `cargo xtask interop libnice`.
 *
 * The harness (xtask/src/interop/agent.rs) stands between this agent and `icebreaker peer`: it
 * turns icebreaker's SDP and JSON signalling into the lines below and back.
 *
 * Out (one per line): `credentials UFRAG PWD`, `candidate candidate:...`, `end-of-candidates`,
 * `state NAME` (libnice's component states: gathering, connecting, connected, ready, failed),
 * `selected LOCAL -> REMOTE`, `message DATA`, `error TEXT`, `log TEXT`.
 * In: `credentials UFRAG PWD`, `candidate candidate:...`, `end-of-candidates`, `send DATA`, `quit`,
 * `remote-lite` (before the credentials: the other side is ICE-lite, so be controlling).
 *
 * Options: --controlling, --lite (full-mode FALSE), --turn HOST:PORT USER PASS, --turn-tcp (reach
 * the TURN server over TCP), --relay-only
 * (force-relay), --lifetime SECONDS. One stream, one component, RFC 5245 compatibility,
 * reliable FALSE (plain datagrams), host candidates on 127.0.0.1 only.
 *
 * Build: gcc agent.c $(pkg-config --cflags --libs nice glib-2.0)
 */

#include <nice/agent.h>
#include <nice/nice-version.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest line read from stdin; a longer one is reported and dropped. */
#define MAX_LINE (64 * 1024)

static NiceAgent *agent;
static guint stream_id;
static GMainLoop *loop;
static gboolean have_credentials;
/* Remote candidates that came before the remote credentials. */
static GSList *early;

static void emit(const char *word, const char *rest) {
  if (rest != NULL)
    printf("%s %s\n", word, rest);
  else
    printf("%s\n", word);
  fflush(stdout);
}

static gchar *describe(NiceCandidate *c) {
  /* "a=candidate:..." */
  gchar *sdp = nice_agent_generate_local_candidate_sdp(agent, c);
  gchar *out = g_strdup(g_str_has_prefix(sdp, "a=") ? sdp + 2 : sdp);
  g_free(sdp);
  return out;
}

static void on_gathering_done(NiceAgent *a, guint stream, gpointer data) {
  (void)data;
  GSList *cands = nice_agent_get_local_candidates(a, stream, 1);
  for (GSList *i = cands; i != NULL; i = i->next) {
    gchar *line = describe(i->data);
    emit("candidate", line);
    g_free(line);
  }
  g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
  emit("end-of-candidates", NULL);
}

static void on_state(NiceAgent *a, guint stream, guint component, guint state, gpointer data) {
  (void)a;
  (void)stream;
  (void)component;
  (void)data;
  emit("state", nice_component_state_to_string(state));
}

static void on_selected(NiceAgent *a, guint stream, guint component, NiceCandidate *local,
                        NiceCandidate *remote, gpointer data) {
  (void)a;
  (void)stream;
  (void)component;
  (void)data;
  gchar *l = describe(local);
  gchar *r = nice_agent_generate_local_candidate_sdp(agent, remote);
  gchar *line = g_strdup_printf("%s -> %s", l, g_str_has_prefix(r, "a=") ? r + 2 : r);
  emit("selected", line);
  g_free(line);
  g_free(l);
  g_free(r);
}

static void on_recv(NiceAgent *a, guint stream, guint component, guint len, gchar *buf,
                    gpointer data) {
  (void)a;
  (void)stream;
  (void)component;
  (void)data;
  gchar *text = g_utf8_make_valid(buf, len);
  /* One line per message: a newline inside would break the protocol. */
  for (gchar *p = text; *p != '\0'; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  emit("message", text);
  g_free(text);
}

/* Gathering starts at once for a controlling (offering) or a lite agent, and for a full
 * answerer once the offer is in (its credentials): libnice fixes the role when its checks
 * start, and a full answerer learns from the offer's a=ice-lite (`remote-lite`) that it has to
 * be controlling. That is the order of WebRTC stacks on libnice: the answerer gathers after
 * applying the remote description. */
static gboolean gathering;

static gboolean start_gathering(void) {
  if (gathering)
    return TRUE;
  gathering = TRUE;
  if (!nice_agent_gather_candidates(agent, stream_id)) {
    emit("error", "nice_agent_gather_candidates failed");
    return FALSE;
  }
  return TRUE;
}

static void add_remote(NiceCandidate *c) {
  GSList *one = g_slist_append(NULL, c);
  if (nice_agent_set_remote_candidates(agent, stream_id, 1, one) < 1)
    emit("error", "libnice refused the remote candidate");
  g_slist_free_full(one, (GDestroyNotify)nice_candidate_free);
}

static void command(gchar *line) {
  gchar *rest = strchr(line, ' ');
  if (rest != NULL)
    *rest++ = '\0';
  else
    rest = line + strlen(line);
  if (strcmp(line, "remote-lite") == 0) {
    /* RFC 8445 section 6.1.1: the full agent controls a lite one. */
    g_object_set(agent, "controlling-mode", TRUE, NULL);
  } else if (strcmp(line, "credentials") == 0) {
    gchar **words = g_strsplit(rest, " ", 3);
    if (g_strv_length(words) != 2) {
      emit("error", "credentials wants UFRAG PWD");
    } else if (!nice_agent_set_remote_credentials(agent, stream_id, words[0], words[1])) {
      emit("error", "libnice refused the remote credentials");
    } else if (start_gathering()) {
      have_credentials = TRUE;
      early = g_slist_reverse(early);
      for (GSList *i = early; i != NULL; i = i->next)
        add_remote(i->data);
      g_slist_free(early);
      early = NULL;
    }
    g_strfreev(words);
  } else if (strcmp(line, "candidate") == 0) {
    gchar *sdp = g_str_has_prefix(rest, "a=") ? g_strdup(rest) : g_strconcat("a=", rest, NULL);
    NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(agent, stream_id, sdp);
    if (c == NULL) {
      emit("error", "libnice cannot parse the candidate");
    } else if (have_credentials) {
      add_remote(c);
    } else if (g_slist_length(early) < 64) {
      early = g_slist_prepend(early, c);
    } else {
      nice_candidate_free(c);
      emit("error", "too many candidates before the credentials");
    }
    g_free(sdp);
  } else if (strcmp(line, "end-of-candidates") == 0) {
    /* Without trickle, libnice checks what it has; nothing more to say. */
  } else if (strcmp(line, "send") == 0) {
    gint sent = nice_agent_send(agent, stream_id, 1, strlen(rest), rest);
    if (sent < 0)
      emit("error", "cannot send: nice_agent_send failed (not connected?)");
  } else if (strcmp(line, "quit") == 0) {
    g_main_loop_quit(loop);
  } else if (line[0] != '\0') {
    emit("error", "unknown command");
  }
}

static gboolean on_stdin(GIOChannel *ch, GIOCondition cond, gpointer data) {
  (void)cond;
  (void)data;
  gchar *line = NULL;
  gsize len = 0;
  GIOStatus st = g_io_channel_read_line(ch, &line, &len, NULL, NULL);
  if (st == G_IO_STATUS_NORMAL && line != NULL) {
    if (len > MAX_LINE) {
      emit("error", "line over the limit ignored");
    } else {
      g_strchomp(line);
      command(line);
    }
    g_free(line);
    return TRUE;
  }
  g_free(line);
  if (st == G_IO_STATUS_AGAIN)
    return TRUE;
  g_main_loop_quit(loop);
  return FALSE;
}

static gboolean on_lifetime(gpointer data) {
  (void)data;
  emit("log", "lifetime over");
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
  gboolean controlling = FALSE, lite = FALSE, relay_only = FALSE, turn_tcp = FALSE;
  const char *turn_host = NULL, *turn_user = NULL, *turn_pass = NULL;
  guint turn_port = 0;
  double lifetime = 60.0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--controlling") == 0) {
      controlling = TRUE;
    } else if (strcmp(argv[i], "--lite") == 0) {
      lite = TRUE;
    } else if (strcmp(argv[i], "--relay-only") == 0) {
      relay_only = TRUE;
    } else if (strcmp(argv[i], "--turn-tcp") == 0) {
      turn_tcp = TRUE;
    } else if (strcmp(argv[i], "--turn") == 0 && i + 3 < argc) {
      /* HOST:PORT (IPv4) */
      gchar *colon = strrchr(argv[i + 1], ':');
      if (colon == NULL) {
        fprintf(stderr, "--turn wants HOST:PORT USER PASS\n");
        return 2;
      }
      *colon = '\0';
      turn_host = argv[i + 1];
      turn_port = (guint)strtoul(colon + 1, NULL, 10);
      turn_user = argv[i + 2];
      turn_pass = argv[i + 3];
      i += 3;
    } else if (strcmp(argv[i], "--lifetime") == 0 && i + 1 < argc) {
      lifetime = strtod(argv[++i], NULL);
    } else {
      fprintf(stderr, "usage: %s [--controlling] [--lite] [--turn HOST:PORT USER PASS] "
                      "[--turn-tcp] [--relay-only] [--lifetime SECONDS]\n", argv[0]);
      return 2;
    }
  }
  if (lifetime <= 0 || lifetime > 600)
    lifetime = 60;

  loop = g_main_loop_new(NULL, FALSE);
  agent = nice_agent_new_full(g_main_loop_get_context(loop), NICE_COMPATIBILITY_RFC5245,
                              lite ? NICE_AGENT_OPTION_LITE_MODE : NICE_AGENT_OPTION_NONE);
  if (agent == NULL) {
    emit("error", "nice_agent_new_full failed");
    return 1;
  }
  g_object_set(agent, "controlling-mode", controlling, "upnp", FALSE, "ice-tcp", FALSE, NULL);
  if (relay_only)
    g_object_set(agent, "force-relay", TRUE, NULL);
  gboolean full = TRUE, reliable = TRUE, ctl = FALSE;
  g_object_get(agent, "full-mode", &full, "reliable", &reliable, "controlling-mode", &ctl, NULL);
  gchar *how = g_strdup_printf("libnice %d.%d.%d: full-mode %s, reliable %s, controlling-mode %s",
                               NICE_VERSION_MAJOR, NICE_VERSION_MINOR, NICE_VERSION_MICRO,
                               full ? "TRUE" : "FALSE",
                               reliable ? "TRUE" : "FALSE", ctl ? "TRUE" : "FALSE");
  emit("log", how);
  g_free(how);

  NiceAddress host;
  nice_address_init(&host);
  if (!nice_address_set_from_string(&host, "127.0.0.1") || !nice_agent_add_local_address(agent, &host)) {
    emit("error", "cannot use 127.0.0.1");
    return 1;
  }
  g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), NULL);
  g_signal_connect(agent, "component-state-changed", G_CALLBACK(on_state), NULL);
  g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(on_selected), NULL);

  stream_id = nice_agent_add_stream(agent, 1);
  if (stream_id == 0) {
    emit("error", "nice_agent_add_stream failed");
    return 1;
  }
  if (turn_host != NULL &&
      !nice_agent_set_relay_info(agent, stream_id, 1, turn_host, turn_port, turn_user, turn_pass,
                                 turn_tcp ? NICE_RELAY_TYPE_TURN_TCP : NICE_RELAY_TYPE_TURN_UDP)) {
    emit("error", "nice_agent_set_relay_info failed");
    return 1;
  }
  nice_agent_attach_recv(agent, stream_id, 1, g_main_loop_get_context(loop), on_recv, NULL);

  gchar *ufrag = NULL, *pwd = NULL;
  if (!nice_agent_get_local_credentials(agent, stream_id, &ufrag, &pwd)) {
    emit("error", "no local credentials");
    return 1;
  }
  gchar *creds = g_strdup_printf("%s %s", ufrag, pwd);
  emit("credentials", creds);
  g_free(creds);
  g_free(ufrag);
  g_free(pwd);

  /* A lite agent's role never changes: nothing to wait for. */
  if ((controlling || lite) && !start_gathering())
    return 1;

  GIOChannel *in = g_io_channel_unix_new(0);
  g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);
  g_timeout_add((guint)(lifetime * 1000), on_lifetime, NULL);
  g_main_loop_run(loop);

  g_io_channel_unref(in);
  g_slist_free_full(early, (GDestroyNotify)nice_candidate_free);
  nice_agent_remove_stream(agent, stream_id);
  g_object_unref(agent);
  g_main_loop_unref(loop);
  return 0;
}
