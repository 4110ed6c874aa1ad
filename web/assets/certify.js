// The H5 face check (/h5/certify): the mobile app's web view and the fallback when the
// mini-program camera fails. Plain ES2017 for phones from 2018; no CDN, no inline script.
// The app hands its access token in the URL fragment (#token=...), which never reaches a
// server log; it is kept in memory only. Without one, the page logs in by SMS code.
(function () {
  "use strict";

  var ACTIONS = {
    blink: ["👁", "请眨眨眼"],
    open_mouth: ["😮", "请张张嘴"],
    turn_left: ["👈", "请慢慢向左转头，再转回来"],
    turn_right: ["👉", "请慢慢向右转头，再转回来"],
    nod: ["⬇", "请点点头"],
  };
  var state = { token: null, personId: null, notice: null, challenge: null, frames: [] };

  function $(id) { return document.getElementById(id); }

  function show(step) {
    ["login", "consent", "ready", "capture", "upload", "result"].forEach(function (name) {
      $("step-" + name).hidden = name !== step;
    });
    $("error").hidden = true;
  }

  function fail(message) {
    $("error").textContent = message;
    $("error").hidden = false;
  }

  function key() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  async function api(method, path, body, headers) {
    var options = { method: method, headers: Object.assign({}, headers || {}) };
    if (state.token) options.headers.Authorization = "Bearer " + state.token;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    var response = await fetch(path, options);
    var data = null;
    try { data = await response.json(); } catch (ignored) { data = null; }
    if (!response.ok) {
      var error = new Error((data && data.error && data.error.message) || "网络不太好，请稍后再试。");
      error.code = data && data.error && data.error.code;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // -- login (only without a token from the app) --------------------------------------
  var smsChallenge = null;
  $("send-code").addEventListener("click", async function () {
    try {
      var sent = await api("POST", "/v1/auth/sms/code", { phone: $("phone").value.trim() });
      smsChallenge = sent.challenge_id;
      $("code").focus();
    } catch (error) { fail(error.message); }
  });
  $("login").addEventListener("click", async function () {
    try {
      var login = await api("POST", "/v1/auth/sms/login", {
        challenge_id: smsChallenge, code: $("code").value.trim(), device: { model: "h5" } });
      state.token = login.access_token;
      await begin();
    } catch (error) { fail(error.message); }
  });

  // -- consent ------------------------------------------------------------------------
  async function begin() {
    var me = await api("GET", "/v1/me");
    state.personId = me.person_id;
    if (!state.personId) {
      fail("请先在 App 或小程序里完成实名认证，再来做资格认证。");
      return;
    }
    var consent = await api("GET", "/v1/pension/people/" + state.personId + "/consent");
    var given = consent && consent.status === "given";
    if (!given) await showNotice();
    show(given ? "ready" : "consent");
  }

  // The notice comes from the server that records the consent, and its version goes
  // back with the answer: the person agrees to exactly the text shown.
  async function showNotice() {
    state.notice = await api("GET", "/v1/pension/consent-notice");
    $("notice-title").textContent = state.notice.title;
    var box = $("notice-text");
    box.textContent = "";
    state.notice.paragraphs.forEach(function (text) {
      var paragraph = document.createElement("p");
      paragraph.className = "say";
      paragraph.textContent = text;
      box.appendChild(paragraph);
    });
  }

  $("consent-yes").addEventListener("click", async function () {
    try {
      await api("POST", "/v1/pension/people/" + state.personId + "/consent",
                { decision: "give", notice_version: state.notice.version });
      show("ready");
    } catch (error) {
      if (error.code === "CONSENT_NOTICE_OUTDATED") {
        await showNotice();  // changed while on screen: the new text, to read again
        show("consent");
      }
      fail(error.message);
    }
  });
  $("consent-no").addEventListener("click", function () {
    showResult("可以用其他方式认证", "请家属在他的手机上帮您认证、在 App 里预约上门认证，" +
               "或带身份证到就近的社保经办窗口办理。", "");
  });

  // -- the challenge and the camera ----------------------------------------------------
  $("start").addEventListener("click", async function () {
    try {
      state.challenge = await api("POST", "/v1/pension/challenges",
                                  { person_id: state.personId }, { "Idempotency-Key": key() });
      await capture(state.challenge);
      await upload(state.challenge, false);
    } catch (error) {
      if (error.name === "NotAllowedError" || error.name === "NotFoundError") {
        fail("打不开摄像头。请允许使用摄像头，或改用家属代办、预约上门认证。");
      } else {
        fail(error.message);
      }
    }
  });

  async function capture(challenge) {
    var hints = challenge.capture || { fps: 15, seconds: 4, width: 640, height: 480,
                                       max_frame_bytes: 100 * 1024, max_frames: 90 };
    var stream = await navigator.mediaDevices.getUserMedia({ audio: false, video: {
      width: { ideal: hints.width }, height: { ideal: hints.height },
      frameRate: { ideal: hints.fps }, facingMode: "user" } });
    var video = $("camera");
    video.srcObject = stream;
    show("capture");
    await video.play();
    var total = Math.min(Math.round(hints.seconds * hints.fps), hints.max_frames);
    var perAction = Math.ceil(total / challenge.actions.length);
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth || hints.width;
    canvas.height = video.videoHeight || hints.height;
    var context = canvas.getContext("2d");
    state.frames = [];
    for (var n = 0; n < total; n++) {
      var action = challenge.actions[Math.min(Math.floor(n / perAction),
                                              challenge.actions.length - 1)];
      var shown = ACTIONS[action] || ["", action];
      $("action-picture").textContent = shown[0];
      $("action-text").textContent = shown[1];
      var started = performance.now();
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      state.frames.push(await jpeg(canvas, hints.max_frame_bytes));
      await sleep(Math.max(0, 1000 / hints.fps - (performance.now() - started)));
    }
    stream.getTracks().forEach(function (track) { track.stop(); });
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  async function jpeg(canvas, limit) {
    // Lower the quality until the frame fits the size the API takes.
    for (var quality = 0.85; quality > 0.3; quality -= 0.15) {
      var blob = await new Promise(function (resolve) {
        canvas.toBlob(resolve, "image/jpeg", quality);
      });
      if (blob && blob.size <= limit) return blob;
    }
    throw new Error("画面太大，请换一台手机或到窗口认证。");
  }

  // -- upload with progress, one retry on a network error with the same nonce ----------
  function upload(challenge, retried) {
    show("upload");
    $("upload-note").textContent = retried ? "网络不稳，正在重试一次……" : "";
    var form = new FormData();
    form.append("nonce", challenge.nonce);
    state.frames.forEach(function (blob, index) {
      form.append("frame" + ("00" + index).slice(-3), blob, "frame" + index + ".jpg");
    });
    return new Promise(function (resolve) {
      var request = new XMLHttpRequest();
      request.open("POST", "/v1/pension/challenges/" + challenge.challenge_id + "/frames");
      request.setRequestHeader("Authorization", "Bearer " + state.token);
      request.upload.onprogress = function (event) {
        if (event.lengthComputable) {
          $("upload-progress").value = Math.round(100 * event.loaded / event.total);
        }
      };
      request.onerror = function () {
        if (!retried) { resolve(upload(challenge, true)); return; }
        showResult("网络连接失败", "画面没有传上去。请到信号好的地方重新认证。", "");
        resolve();
      };
      request.onload = function () {
        var data = null;
        try { data = JSON.parse(request.responseText); } catch (ignored) { data = null; }
        answer(request.status, data);
        resolve();
      };
      request.send(form);
    });
  }

  function answer(status, data) {
    if (status === 200 && data && data.result === "pass") {
      var until = data.status && data.status.valid_through;
      showResult("认证成功", data.pending_review ? data.message || "认证记录需要人工核对，结果会短信通知您。"
                 : "您已完成养老金资格认证" + (until ? "，有效期至 " + until : "") + "。", "");
      return;
    }
    if (status === 200 && data) {
      var reason = data.reason ? data.reason.message : "没有通过认证。";
      var left = data.attempts_left != null ? "今天还可以再试 " + data.attempts_left + " 次。" : "";
      showResult("没有通过", reason, left + (data.other_routes || ""), true);
      return;
    }
    var code = data && data.error && data.error.code;
    var message = (data && data.error && data.error.message) || "服务暂时不可用，请稍后再试。";
    if (code === "NONCE_EXPIRED" || code === "CHALLENGE_NOT_FOUND") {
      message = "认证已超时，请重新开始。";
    }
    showResult("没有完成", message, "", true);
  }

  function showResult(title, text, next, again) {
    show("result");
    $("result-title").textContent = title;
    $("result-text").textContent = text;
    $("result-next").textContent = next;
    $("again").hidden = !again;
  }
  $("again").addEventListener("click", function () { show("ready"); });

  // -- start ------------------------------------------------------------------------
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  state.token = fragment.get("token");
  if (state.token) {
    history.replaceState(null, "", window.location.pathname);  // out of the address bar
    begin().catch(function (error) { fail(error.message); });
  } else {
    show("login");
  }
})();
