/**
 * The login tokens, kept in the phone's storage so a restart stays logged in.
 * The access token lives 15 minutes; the refresh token is single use and rotated
 * (api/client.js refreshes once on a 401).
 *
 * @typedef {import('../api/types').components['schemas']['LoginAnswer']} LoginAnswer
 * @typedef {import('../api/types').components['schemas']['AccountView']} AccountView
 */
const KEY = 'nm12333.session'

function read() {
  try {
    return wx.getStorageSync(KEY) || null
  } catch (e) {
    return null
  }
}

/** @param {LoginAnswer} answer */
function save(answer) {
  const stored = {
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    session_id: answer.session_id,
    account: answer.account,
  }
  wx.setStorageSync(KEY, stored)
  return stored
}

/** @param {AccountView} account */
function saveAccount(account) {
  const stored = read()
  if (stored) {
    stored.account = account
    wx.setStorageSync(KEY, stored)
  }
}

function clear() {
  try {
    wx.removeStorageSync(KEY)
  } catch (e) {
    // nothing stored
  }
}

function accessToken() {
  const stored = read()
  return stored ? stored.access_token : null
}

function refreshToken() {
  const stored = read()
  return stored ? stored.refresh_token : null
}

/** @returns {AccountView|null} */
function account() {
  const stored = read()
  return stored ? stored.account : null
}

module.exports = { save, saveAccount, clear, accessToken, refreshToken, account, read }
