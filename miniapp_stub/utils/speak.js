/**
 * Read an instruction aloud (长辈版 朗读 button).
 *
 * WeChat's text-to-speech is the 微信同声传译 plugin (WechatSI). A plugin must be
 * declared in app.json and authorised for the app id, which a tourist/dev app id cannot
 * do, so it is not declared here. To turn it on in production, add to app.json:
 *   "plugins": { "WechatSI": { "version": "0.3.5", "provider": "wx069ba97219f66d99" } }
 * Without it, speak() degrades gracefully: the text is shown in a large dialog so it can
 * still be read (or read out by the phone's own screen reader).
 *
 * Resolves with 'voice' when it was spoken, 'text' when it was shown instead.
 */
function plugin() {
  try {
    // eslint-disable-next-line no-undef
    if (typeof requirePlugin === 'function') return requirePlugin('WechatSI') || null
  } catch (e) {
    // the plugin is not declared or not authorised for this app id
  }
  return null
}

function showInstead(text) {
  return new Promise(resolve => {
    wx.showModal({
      title: '请看这段话',
      content: String(text || ''),
      showCancel: false,
      confirmText: '我知道了',
      complete: () => resolve('text'),
    })
  })
}

function speak(text) {
  const content = String(text || '').trim()
  if (!content) return Promise.resolve('text')
  const si = plugin()
  if (!si || typeof si.textToSpeech !== 'function') return showInstead(content)
  return new Promise(resolve => {
    si.textToSpeech({
      lang: 'zh_CN',
      tts: true,
      content,
      success(res) {
        try {
          const audio = wx.createInnerAudioContext()
          audio.src = res.filename
          audio.play()
          resolve('voice')
        } catch (e) {
          showInstead(content).then(resolve)
        }
      },
      fail() {
        showInstead(content).then(resolve)
      },
    })
  })
}

module.exports = { speak }
