/**
 * wx.* callback APIs as promises: `await call(wx.login)` resolves with the success
 * result and rejects with the fail result ({ errMsg }).
 */
function call(api, options = {}) {
  return new Promise((resolve, reject) => {
    api(Object.assign({}, options, { success: resolve, fail: reject }))
  })
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Ask a yes/no question; resolves true when the person taps the confirm button. */
function confirm(title, content, confirmText = '确定', cancelText = '取消') {
  return call(wx.showModal, { title, content, confirmText, cancelText })
    .then(res => !!res.confirm)
    .catch(() => false)
}

module.exports = { call, sleep, confirm }
