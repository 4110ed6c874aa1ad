/**
 * Plain Chinese for refusals the server's envelope does not word itself (no answer at
 * all, a page that is not the API's, a method WeChat cannot send), and the rule that
 * every refusal says what to do next.
 *
 * The server's `error.message` comes first: it is written for the person (api/messages.py
 * on the server) and already says what to do in most cases.
 */
/** @type {Record<string, string>} */
const BY_CODE = {
  NETWORK: '网络不通，请检查手机网络后再试。如急需办理，请拨打 12333。',
  TIMEOUT: '服务器没有及时回应，请稍后再试。如急需办理，请拨打 12333。',
  NOT_LOGGED_IN: '您还没有登录，请先点“微信一键登录”。',
  METHOD_NOT_SUPPORTED: '小程序暂时不能办理这一步，请拨打 12333 或到社保经办网点办理。',
  WECHAT_LOGIN_FAILED: '没能取得微信登录凭证，请关闭小程序后重新打开再试。',
}

/** @type {Record<number, string>} */
const BY_STATUS = {
  400: '填写的信息有误，请检查后重新提交。',
  401: '您尚未登录或登录已过期，请重新登录。',
  403: '您没有办理此业务的权限。如需帮助，请拨打 12333。',
  404: '没有找到您要办理的业务，请返回首页重试，或拨打 12333 咨询。',
  409: '当前状态下不能办理此业务，请刷新后查看最新状态。',
  412: '信息已被更新，请刷新页面后重新操作。',
  413: '上传的内容太大，请减少内容后重试。',
  422: '填写的信息有误，请检查后重新提交。',
  428: '请先刷新页面获取最新信息，再提交修改。',
  429: '操作太频繁，请稍后再试。',
  500: '系统繁忙，请稍后再试。如需帮助，请拨打 12333。',
  503: '服务暂时不可用，请稍后再试。如急需办理，请拨打 12333。',
}

const NEXT_STEP = '如需帮助，请拨打 12333 或到社保经办网点咨询。'

/** Whether a sentence already tells the person what to do (请…, 拨打…, 可以…). */
function saysWhatToDo(text) {
  return /请|拨打|可以|再试|重试|无需/.test(text)
}

/**
 * The message shown to the person: the server's words, else ours, always with a next step.
 * @param {{code: string, status: number, serverMessage?: string}} refusal
 * @returns {string}
 */
function plainMessage({ code, status, serverMessage }) {
  let text = serverMessage || BY_CODE[code] || BY_STATUS[status] ||
    (status >= 500 ? BY_STATUS[500] : BY_STATUS[400])
  text = String(text).trim()
  if (!saysWhatToDo(text)) text = `${text}${NEXT_STEP}`
  return text
}

module.exports = { plainMessage, BY_CODE, BY_STATUS, NEXT_STEP }
