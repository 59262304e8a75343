'use strict';
// Captures real Chromium session descriptions as SDP files (the fixtures of
// crates/sdp/tests/fixtures/chromium, read by crates/sdp/tests/chromium.rs):
//
//   node capture.js OUT_DIR
//
// Run it in a network namespace with only `lo` up, so the candidates in the descriptions are
// 127.0.0.1 and no address of the machine leaks into a fixture (as root, from the repo root):
//
//   ip netns add sdp-capture && ip netns exec sdp-capture ip link set lo up
//   (cd interop/chromium && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)
//   ip netns exec sdp-capture node interop/chromium/capture.js crates/sdp/tests/fixtures/chromium
//   ip netns del sdp-capture
//
// `cargo xtask interop chromium` runs it too, into a scratch directory, and checks that what
// today's Chromium writes still parses strictly and round-trips.
//
// What is captured, each exactly as Chromium wrote it:
// - datachannel_offer.sdp: a data channel only, before gathering (no candidates)
// - datachannel_gathered_offer.sdp: the same offer once ICE gathering completed (candidates)
// - datachannel_answer.sdp: a second peer connection's answer to it
// - ice_restart_offer.sdp: the first peer connection's next offer with iceRestart
// - audio_video_data_offer.sdp: fake microphone and camera plus a data channel, BUNDLEd
// - audio_video_data_answer.sdp: an answer to it, with fake media of its own
// - simulcast_offer.sdp: a camera track sent in three rids (sendEncodings)

const fs = require('node:fs');
const path = require('node:path');
const { open, deadline } = require('./common');

async function capture(page) {
  return page.evaluate(async () => {
    const out = {};
    const media = window.icebreakerMedia;
    const [audio] = media.getAudioTracks();
    const [video] = media.getVideoTracks();
    const gathered = (pc) =>
      new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') resolve();
        });
      });

    // A data channel only, then the same session gathered, answered and restarted.
    const a = new RTCPeerConnection();
    const b = new RTCPeerConnection();
    a.createDataChannel('chat');
    const offer = await a.createOffer();
    out.datachannel_offer = offer.sdp;
    await a.setLocalDescription(offer);
    await gathered(a);
    out.datachannel_gathered_offer = a.localDescription.sdp;
    await b.setRemoteDescription(a.localDescription);
    const answer = await b.createAnswer();
    out.datachannel_answer = answer.sdp;
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    const restart = await a.createOffer({ iceRestart: true });
    out.ice_restart_offer = restart.sdp;
    a.close();
    b.close();

    // Fake microphone and camera, plus a data channel: three sections in one BUNDLE group.
    const c = new RTCPeerConnection();
    const d = new RTCPeerConnection();
    c.addTrack(audio, media);
    c.addTrack(video, media);
    c.createDataChannel('chat');
    const avOffer = await c.createOffer();
    out.audio_video_data_offer = avOffer.sdp;
    await c.setLocalDescription(avOffer);
    await d.setRemoteDescription(avOffer);
    const answerMedia = new MediaStream([audio.clone(), video.clone()]);
    for (const t of answerMedia.getTracks()) d.addTrack(t, answerMedia);
    const avAnswer = await d.createAnswer();
    out.audio_video_data_answer = avAnswer.sdp;
    c.close();
    d.close();

    // Simulcast: one camera track in three encodings.
    const e = new RTCPeerConnection();
    e.addTransceiver(video, {
      direction: 'sendonly',
      streams: [media],
      sendEncodings: [
        { rid: 'q', scaleResolutionDownBy: 4 },
        { rid: 'h', scaleResolutionDownBy: 2 },
        { rid: 'f' },
      ],
    });
    out.simulcast_offer = (await e.createOffer()).sdp;
    e.close();
    return out;
  });
}

async function main() {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: node capture.js OUT_DIR');
  fs.mkdirSync(dir, { recursive: true });
  const watchdog = deadline(60000, 'capturing descriptions');
  let browser;
  const work = (async () => {
    const opened = await open();
    browser = opened.browser;
    return capture(opened.page);
  })();
  work.catch(() => {});
  try {
    const out = await Promise.race([work, watchdog]);
    for (const [name, sdp] of Object.entries(out)) {
      fs.writeFileSync(path.join(dir, `${name}.sdp`), sdp);
      process.stdout.write(`${name}.sdp ${sdp.length} bytes\n`);
    }
    process.stdout.write(`captured with Chromium ${browser.version()}\n`);
  } finally {
    watchdog.cancel();
    if (browser) await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]).catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`capture: ${e.message}\n`);
    process.exit(1);
  },
);
