'use strict';
// The browser side of `cargo xtask interop chromium`. One case per run:
//
//   node driver.js browser-offers        [--timeout-ms N]
//   node driver.js browser-offers-media  [--timeout-ms N]
//   node driver.js browser-answers       [--timeout-ms N]
//   node driver.js browser-restarts      [--timeout-ms N]
//   node driver.js icebreaker-restarts   [--timeout-ms N]
//   node driver.js turn-relay --turn turn:HOST:PORT --user U --pass P [--timeout-ms N]
//
// The first two connect an RTCPeerConnection (with a data channel, so there is an
// m=application section) to `icebreaker peer --signal stdio`: signalling messages are JSON
// lines (DESIGN.md), written to stdout for icebreaker and read from stdin from icebreaker, the
// harness (xtask) passing them on. `browser-offers-media` also sends the fake microphone and
// camera, so the offer has audio, video and data sections, audio first (the BUNDLE tag).
// The two restart cases connect once, then restart ICE (RFC 8445 §9) and wait for the new
// session's pair: in `browser-restarts` icebreaker offers first and the browser restarts with
// restartIce() and a new offer; in `icebreaker-restarts` the browser offers first and then sends
// icebreaker `{"type":"restart"}`, so icebreaker offers again. `turn-relay` connects two RTCPeerConnections of the page
// through a TURN server with iceTransportPolicy "relay" and sends one data channel message.
// While connecting to icebreaker, each iceConnectionState is also printed as `STATE NAME`, and
// `--stats 1` also asks icebreaker for `{"type":"stats"}` once connected and checks its report
// against the browser's getStats (see compareStats). `--link-only 1` passes icebreaker the candidates that are not on loopback instead of the
// loopback ones (`cargo xtask bench --peers ice`: icebreaker is in another namespace, at the
// other end of a delay link, where the browser's 127.0.0.1 cannot be reached).
//
// The outcome is one last line `RESULT {...}`: a flat JSON object of strings (what the browser
// saw: ICE states, the selected pair from getStats, an error), which the harness judges.
// Everything here is bounded by --timeout-ms; the browser is closed on every path.

const crypto = require('node:crypto');
const readline = require('node:readline');
const { open, deadline, flags } = require('./common');

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;

function send(msg) {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function result(fields) {
  const flat = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && v !== null) flat[k] = String(v).replace(/["\\\r\n]/g, ' ');
  }
  process.stdout.write(`RESULT ${JSON.stringify(flat)}\n`);
}

/**
 * icebreaker does no DTLS, so its descriptions carry no fingerprint; Chromium refuses a
 * description without one. The harness adds a session-level placeholder fingerprint and setup
 * role (the DTLS handshake then fails, after ICE: only ICE connectivity is asserted here).
 */
const FINGERPRINT = [...crypto.randomBytes(32)]
  .map((b) => b.toString(16).padStart(2, '0').toUpperCase())
  .join(':');

function withPlaceholderDtls(sdp, setup) {
  if (/^a=fingerprint:/m.test(sdp)) return sdp;
  // One fingerprint for the run: a later description (after an ICE restart) keeps it.
  const fp = FINGERPRINT;
  const at = sdp.search(/^m=/m);
  if (at < 0) return sdp;
  return `${sdp.slice(0, at)}a=fingerprint:sha-256 ${fp}\r\na=setup:${setup}\r\n${sdp.slice(at)}`;
}

/** The candidate's address, from its SDP line (`candidate:F C T P ADDR PORT typ ...`). */
function candidateAddress(line) {
  return line.replace(/^a=/, '').split(' ')[4];
}

/** The `a=setup` role a description gives its writer, if any. */
function setupOf(sdp) {
  const m = /^a=setup:(\w+)/m.exec(sdp);
  return m && m[1];
}

/** Installs the page-side helpers: the selected pair from getStats, and a bounded wait. */
async function installHelpers(page) {
  await page.evaluate(() => {
    window.selectedPair = async (pc) => {
      const stats = await pc.getStats();
      const byId = new Map();
      stats.forEach((s) => byId.set(s.id, s));
      const all = [...byId.values()];
      const transport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
      let pair = transport && byId.get(transport.selectedCandidatePairId);
      if (!pair) pair = all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
      if (!pair) return { pair: 'none' };
      const l = byId.get(pair.localCandidateId) || {};
      const r = byId.get(pair.remoteCandidateId) || {};
      return {
        selected: Boolean(transport && transport.selectedCandidatePairId === pair.id),
        nominated: Boolean(pair.nominated),
        pair_state: pair.state,
        local_type: l.candidateType,
        local_address: `${l.address}:${l.port}`,
        local_protocol: l.protocol,
        relay_protocol: l.relayProtocol,
        remote_type: r.candidateType,
        remote_address: `${r.address}:${r.port}`,
        local_ufrag: l.usernameFragment,
        remote_ufrag: r.usernameFragment,
        ice_role: transport && transport.iceRole,
        pair_changes: transport && transport.selectedCandidatePairChanges,
        requests_sent: pair.requestsSent,
        responses_received: pair.responsesReceived,
        requests_received: pair.requestsReceived,
        responses_sent: pair.responsesSent,
      };
    };
    window.iceConnected = (pc, ms) =>
      new Promise((resolve, reject) => {
        const done = () => ['connected', 'completed'].includes(pc.iceConnectionState);
        if (done()) return resolve(pc.iceConnectionState);
        const timer = setTimeout(() => reject(new Error(`ICE still ${pc.iceConnectionState} after ${ms} ms`)), ms);
        pc.addEventListener('iceconnectionstatechange', () => {
          if (done()) {
            clearTimeout(timer);
            resolve(pc.iceConnectionState);
          } else if (pc.iceConnectionState === 'failed') {
            clearTimeout(timer);
            reject(new Error('ICE failed'));
          }
        });
      });
  });
}

/** The browser against `icebreaker peer` over the JSON lines on stdio. */
async function againstIcebreaker(page, browserOffers, media, timeoutMs, linkOnly, restart, stats) {
  const started = Date.now();
  const seen = { ice_states: 'new', icebreaker_state: '', icebreaker_errors: '0', trickled_out: '0', trickled_in: '0' };
  let described = false;
  const queued = [];
  let trickledOut = 0;
  const toIcebreaker = (msg) => {
    if (msg.type === 'candidate' && msg.candidate) {
      // Only loopback candidates: on the host (when no namespace could be made) the browser
      // also gathers the machine's other addresses, which must not be used. With --link-only,
      // only the others.
      if (LOOPBACK.test(candidateAddress(msg.candidate)) === linkOnly) return;
      trickledOut += 1;
      seen.trickled_out = String(trickledOut);
    }
    if (described) send(msg);
    else queued.push(msg);
  };
  const described_ = () => {
    described = true;
    for (const m of queued.splice(0)) send(m);
  };
  // The DTLS role the harness gives icebreaker in its answers: `active` at first; once the
  // browser has answered icebreaker's offer, the opposite of the browser's choice, so that a
  // later answer (after a restart) keeps the roles as they were.
  let answerSetup = 'active';
  await page.exposeFunction('icebreakerSignal', toIcebreaker);
  await page.exposeFunction('icebreakerIceState', (s) => {
    seen.ice_states += `>${s}`;
    // Timed by the harness as it arrives (cargo xtask bench --peers ice).
    process.stdout.write(`STATE ${s}\n`);
  });
  await page.evaluate((media) => {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    if (media) {
      const stream = window.icebreakerMedia;
      for (const track of [...stream.getAudioTracks(), ...stream.getVideoTracks()]) pc.addTrack(track, stream);
    }
    pc.createDataChannel('icebreaker');
    pc.addEventListener('iceconnectionstatechange', () => window.icebreakerIceState(pc.iceConnectionState));
    pc.addEventListener('icecandidate', (e) =>
      window.icebreakerSignal(
        e.candidate && e.candidate.candidate
          ? { type: 'candidate', ...e.candidate.toJSON() }
          : { type: 'candidate', candidate: '' },
      ),
    );
  }, media);

  // Messages from icebreaker, applied one after the other; a stats report goes to whoever
  // asked for it.
  let statsWaiter = null;
  let chain = Promise.resolve();
  let failure = null;
  let trickledIn = 0;
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    chain = chain
      .then(async () => {
        switch (msg.type) {
          case 'offer': {
            const sdp = withPlaceholderDtls(msg.sdp, 'actpass');
            described = false;
            const answer = await page.evaluate(async (sdp) => {
              await window.pc.setRemoteDescription({ type: 'offer', sdp });
              await window.pc.setLocalDescription();
              return window.pc.localDescription.sdp;
            }, sdp);
            answerSetup = setupOf(answer) === 'passive' ? 'active' : 'passive';
            send({ type: 'answer', sdp: answer });
            described_();
            break;
          }
          case 'answer': {
            const sdp = withPlaceholderDtls(msg.sdp, answerSetup);
            await page.evaluate((sdp) => window.pc.setRemoteDescription({ type: 'answer', sdp }), sdp);
            break;
          }
          case 'candidate': {
            if (msg.candidate) {
              trickledIn += 1;
              seen.trickled_in = String(trickledIn);
            }
            const init = { candidate: msg.candidate || '', sdpMid: msg.sdpMid, sdpMLineIndex: msg.sdpMLineIndex };
            if (init.sdpMid == null && init.sdpMLineIndex == null) init.sdpMLineIndex = 0;
            // The browser refuses a candidate whose ufrag matches no remote description.
            if (msg.usernameFragment) init.usernameFragment = msg.usernameFragment;
            await page.evaluate((c) => window.pc.addIceCandidate(c), init);
            break;
          }
          case 'state':
            seen.icebreaker_state = msg.state;
            break;
          case 'stats':
            if (statsWaiter) statsWaiter(msg);
            break;
          case 'error':
            seen.icebreaker_errors = String(Number(seen.icebreaker_errors) + 1);
            seen.last_icebreaker_error = msg.message;
            break;
          default:
            break;
        }
      })
      .catch((e) => {
        failure = failure || `applying icebreaker's ${msg.type}: ${e.message}`;
      });
  });

  if (browserOffers) {
    const offer = await page.evaluate(async () => {
      await window.pc.setLocalDescription();
      return window.pc.localDescription.sdp;
    });
    send({ type: 'offer', sdp: offer });
    described_();
  }

  const left = () => Math.max(1000, timeoutMs - (Date.now() - started));
  let state;
  try {
    state = await page.evaluate(([ms]) => window.iceConnected(window.pc, ms), [left()]);
  } catch (e) {
    seen.error = failure || e.message;
  }
  if (state) {
    seen.ice_state = state;
    seen.connected_ms = String(Date.now() - started);
    // A controlled browser is connected as soon as a check succeeds; the controlling side's
    // nomination (USE-CANDIDATE) may come a moment later.
    const until = Date.now() + 5000;
    let pair = await page.evaluate(() => window.selectedPair(window.pc));
    while (!pair.nominated && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      pair = await page.evaluate(() => window.selectedPair(window.pc));
    }
    Object.assign(seen, pair);
    if (stats) {
      const ask = () =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(null), 3000);
          statsWaiter = (msg) => {
            clearTimeout(timer);
            statsWaiter = null;
            resolve(msg);
          };
          send({ type: 'stats' });
        });
      Object.assign(seen, await compareStats(page, ask));
    }
    if (restart) await restartIce(page, browserOffers, seen, pair, left, () => {
      described = false;
      return described_;
    });
    // What became of each offered section once icebreaker's description was applied.
    seen.sections = await page.evaluate(() =>
      window.pc
        .getTransceivers()
        .map((t) => `${t.mid}:${t.receiver.track.kind}:${t.currentDirection}`)
        .concat([`data:${window.pc.sctp ? window.pc.sctp.state : 'rejected'}`])
        .join(' '),
    );
  }
  if (failure && !seen.error) seen.error = failure;
  lines.close();
  return seen;
}

/**
 * Compares icebreaker's `{"type":"stats"}` report with the browser's getStats for the same
 * path, read before and after it (Chromium caches its stats for a moment, hence the pauses): a
 * side never counts more arrivals than the other had sent. Checks icebreaker sent (with its
 * retransmissions) bound the browser's `requestsReceived` from before; icebreaker's
 * `requestsReceived` is bounded by the browser's `requestsSent` from after, and likewise for
 * responses. icebreaker's selected pair must be the browser's, seen from the other end.
 */
async function compareStats(page, ask) {
  const pause = () => new Promise((r) => setTimeout(r, 300));
  await pause();
  const before = await page.evaluate(() => window.selectedPair(window.pc));
  await pause();
  const report = await ask();
  await pause();
  const after = await page.evaluate(() => window.selectedPair(window.pc));
  if (!report || !Array.isArray(report.pairs)) return { stats_check: 'icebreaker sent no stats report' };
  const mine = report.pairs.filter((p) => p.selected);
  if (mine.length !== 1) return { stats_check: `icebreaker reports ${mine.length} selected pairs` };
  const ours = mine[0];
  const at = (line) => {
    const f = line.split(' ');
    return `${f[4]}:${f[5]}`;
  };
  const detail =
    `icebreaker: ${ours.requestsSent} checks sent (${ours.consentRequestsSent} for consent, ` +
    `${ours.retransmissionsSent} retransmitted), ${ours.responsesReceived} answered, ` +
    `${ours.requestsReceived} received, ${ours.responsesSent} answered by it, ` +
    `RTT ${(ours.currentRoundTripTime * 1000).toFixed(2)} ms; the browser before/after: ` +
    `${before.requests_sent}/${after.requests_sent} sent, ${before.requests_received}/${after.requests_received} received, ` +
    `${before.responses_sent}/${after.responses_sent} answered by it, ${before.responses_received}/${after.responses_received} answered`;
  const wrong = [];
  if (at(ours.local) !== after.remote_address || at(ours.remote) !== after.local_address) {
    wrong.push(`icebreaker's selected ${at(ours.local)} -> ${at(ours.remote)} is not the browser's ${after.local_address} -> ${after.remote_address}`);
  }
  if (before.requests_received > ours.requestsSent + ours.retransmissionsSent) wrong.push('the browser received more checks than icebreaker counts sent');
  if (before.responses_received > ours.responsesSent) wrong.push('the browser received more answers than icebreaker counts sent');
  if (ours.requestsReceived > after.requests_sent) wrong.push('icebreaker counts more checks received than the browser sent');
  if (ours.responsesReceived > after.responses_sent) wrong.push('icebreaker counts more answers received than the browser sent');
  if (!(ours.responsesReceived > 0 && ours.requestsReceived > 0)) wrong.push('icebreaker counts no answer or no check on its selected pair');
  if (!(ours.currentRoundTripTime > 0 && ours.currentRoundTripTime < 1)) wrong.push('icebreaker reports no round-trip time under a second');
  return { stats_check: wrong.length ? wrong.join('; ') : 'ok', stats_detail: detail };
}

/**
 * Restarts ICE once connected: the browser with restartIce() and a new offer when icebreaker
 * offered first, icebreaker (told with `{"type":"restart"}`) when the browser did. Waits for
 * both descriptions to carry fresh ufrags and for a nominated pair of the new session (its
 * local and remote candidates have the new ufrags), and records it in `seen`.
 */
async function restartIce(page, browserOffers, seen, first, left, hold) {
  const ufrags = () =>
    page.evaluate(() => {
      const u = (d) => (d && /a=ice-ufrag:(\S+)/.exec(d.sdp)) || [];
      return {
        local: u(window.pc.localDescription)[1],
        remote: u(window.pc.currentRemoteDescription)[1],
        signaling: window.pc.signalingState,
      };
    });
  const before = await ufrags();
  seen.first_ufrags = `${before.local}/${before.remote}`;
  seen.first_pair = `${first.local_address} -> ${first.remote_address}`;
  seen.first_ice_role = first.ice_role;
  if (browserOffers) {
    send({ type: 'restart' });
  } else {
    // The new session's candidates wait until the offer is out.
    const release = hold();
    const offer = await page.evaluate(async () => {
      window.pc.restartIce();
      await window.pc.setLocalDescription();
      return window.pc.localDescription.sdp;
    });
    send({ type: 'offer', sdp: offer });
    release();
  }
  const until = Date.now() + left();
  let now = before;
  let pair = first;
  while (Date.now() < until) {
    now = await ufrags();
    pair = await page.evaluate(() => window.selectedPair(window.pc));
    if (
      now.signaling === 'stable' &&
      now.local !== before.local &&
      now.remote &&
      now.remote !== before.remote &&
      pair.nominated &&
      pair.local_ufrag === now.local &&
      pair.remote_ufrag === now.remote
    ) {
      seen.restarted = 'true';
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  seen.ufrags = `${now.local}/${now.remote}`;
  Object.assign(seen, pair);
  if (!seen.restarted) {
    seen.error = `no nominated pair of the restarted session (ufrags ${seen.first_ufrags} -> ${seen.ufrags}, signaling ${now.signaling}, pair ${pair.local_ufrag}/${pair.remote_ufrag} nominated ${pair.nominated})`;
  }
}

/** Two peer connections of the page, relay-only through the TURN server, one message. */
async function turnRelay(page, turn, user, pass, timeoutMs) {
  const message = `icebreaker relay ${crypto.randomBytes(6).toString('hex')} ❄`;
  const seen = await page.evaluate(
    async ([turn, user, pass, message, ms]) => {
      const config = { iceServers: [{ urls: [turn], username: user, credential: pass }], iceTransportPolicy: 'relay' };
      const a = new RTCPeerConnection(config);
      const b = new RTCPeerConnection(config);
      const states = { a: 'new', b: 'new' };
      a.addEventListener('iceconnectionstatechange', () => (states.a += `>${a.iceConnectionState}`));
      b.addEventListener('iceconnectionstatechange', () => (states.b += `>${b.iceConnectionState}`));
      const gathered = { a: [], b: [] };
      a.addEventListener('icecandidate', (e) => {
        if (e.candidate && e.candidate.candidate) gathered.a.push(e.candidate.candidate.split(' ')[7]);
        b.addIceCandidate(e.candidate).catch(() => {});
      });
      b.addEventListener('icecandidate', (e) => {
        if (e.candidate && e.candidate.candidate) gathered.b.push(e.candidate.candidate.split(' ')[7]);
        a.addIceCandidate(e.candidate).catch(() => {});
      });
      const received = new Promise((resolve) => {
        b.addEventListener('datachannel', (e) => e.channel.addEventListener('message', (m) => resolve(m.data)));
      });
      const channel = a.createDataChannel('relay');
      channel.addEventListener('open', () => channel.send(message));
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
      const out = { sent: message };
      try {
        out.received = await Promise.race([
          received,
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error(`no message after ${ms} ms (channel ${channel.readyState})`)), ms),
          ),
        ]);
      } catch (e) {
        out.error = e.message;
      }
      const pa = await window.selectedPair(a);
      const pb = await window.selectedPair(b);
      for (const [k, v] of Object.entries(pa)) out[`a_${k}`] = v;
      for (const [k, v] of Object.entries(pb)) out[`b_${k}`] = v;
      out.a_ice_states = states.a;
      out.b_ice_states = states.b;
      out.a_gathered = gathered.a.join('+') || 'nothing';
      out.b_gathered = gathered.b.join('+') || 'nothing';
      a.close();
      b.close();
      return out;
    },
    [turn, user, pass, message, timeoutMs],
  );
  seen.delivered = String(seen.received === message);
  return seen;
}

async function main() {
  const [which, ...rest] = process.argv.slice(2);
  const f = flags(rest);
  const timeoutMs = Number(f['timeout-ms'] || 30000);
  const cases = [
    'browser-offers',
    'browser-offers-media',
    'browser-answers',
    'browser-restarts',
    'icebreaker-restarts',
    'turn-relay',
  ];
  if (!cases.includes(which)) {
    throw new Error(`unknown case ${which} (${cases.join(', ')})`);
  }
  if (which === 'turn-relay' && !(f.turn && f.user && f.pass)) {
    throw new Error('turn-relay needs --turn, --user and --pass');
  }
  // A watchdog for the whole run, whatever hangs (the browser's start included).
  const watchdog = deadline(timeoutMs + 20000, `in ${which}`);
  let browser;
  const work = (async () => {
    const opened = await open();
    browser = opened.browser;
    const { page } = opened;
    page.on('console', (m) => process.stderr.write(`page: ${m.text()}\n`));
    await installHelpers(page);
    const seen =
      which === 'turn-relay'
        ? await turnRelay(page, f.turn, f.user, f.pass, timeoutMs)
        : await againstIcebreaker(
            page,
            which.startsWith('browser-offers') || which === 'icebreaker-restarts',
            which === 'browser-offers-media',
            timeoutMs,
            f['link-only'] === '1',
            which.endsWith('-restarts'),
            f.stats === '1',
          );
    seen.browser = browser.version();
    return seen;
  })();
  work.catch(() => {});
  try {
    result(await Promise.race([work, watchdog]));
  } catch (e) {
    result({ error: e.message.split('\n')[0] });
  } finally {
    watchdog.cancel();
    if (browser) await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]).catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    result({ error: e.message });
    process.exit(2);
  },
);
