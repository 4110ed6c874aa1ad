/**
 * The 长辈版 check on a rendered page. miniprogram-simulate puts each page's compiled WXSS
 * into the jsdom document, so getComputedStyle gives the declared values of the rules
 * that match each element. jsdom does not lay pages out and implements inheritance
 * for colour only, so this check:
 *
 * - takes an element's font-size and line-height from the nearest element (itself or an
 *   ancestor) that declares them — CSS inheritance for these two properties;
 * - takes its background from the nearest ancestor with a non-transparent background
 *   (white where none has: the page background);
 * - checks touch targets by their declared min-height/min-width (or height/width), since
 *   there is no layout to measure;
 * - skips what is not on screen (display: none on the element or an ancestor);
 * - orders rules by their order in the stylesheet, as jsdom does (common.wxss puts the
 *   长辈版 rules after the standard ones and makes them more specific, so both agree).
 *
 * WeChat's own default styles for its components are not in jsdom; the page rules set
 * every property checked here on the elements themselves.
 */
const rules = require('./rules')

const MIN_TEXT_PX = 24 // 18 pt
const MIN_HEADING_PX = 40 // 30 pt
const MIN_LINE_HEIGHT = 1.3
const MIN_CONTRAST = 4.5
const MIN_TARGET_PX = 60

function hasClass(el, name) {
  return String(el.getAttribute('class') || '').split(/\s+/).some(c => c === name || c.endsWith(`--${name}`))
}

function style(el) {
  return el.ownerDocument.defaultView.getComputedStyle(el)
}

function visible(el) {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    if (style(node).display === 'none') return false
  }
  return true
}

function inherited(el, property) {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const value = style(node).getPropertyValue(property)
    if (value && value !== 'inherit') return { value, from: node }
  }
  return { value: '', from: null }
}

function px(value) {
  const m = /^([\d.]+)px$/.exec(String(value).trim())
  return m ? Number(m[1]) : NaN
}

function background(el) {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const color = rules.parseColor(style(node).backgroundColor)
    if (color && color.a > 0) return color
  }
  return { r: 255, g: 255, b: 255, a: 1 }
}

function ownText(el) {
  let text = ''
  for (const child of el.childNodes) if (child.nodeType === 3) text += child.textContent
  return text.trim()
}

function describe(el) {
  return `<${el.tagName.toLowerCase()} class="${el.getAttribute('class') || ''}">${(el.textContent || '').trim().slice(0, 24)}`
}

const TARGET_TAGS = ['WX-BUTTON', 'WX-INPUT', 'WX-TEXTAREA', 'WX-SWITCH', 'WX-CHECKBOX', 'WX-RADIO', 'WX-NAVIGATOR']

/** Every rule broken on the page as rendered now: [] when it meets 长辈版. */
function audit(root) {
  const problems = []
  const all = [root, ...root.querySelectorAll('*')]
  let texts = 0
  let targets = 0
  for (const el of all) {
    if (!visible(el)) continue
    const text = ownText(el)
    if (text) {
      texts += 1
      const heading = hasClass(el, 'h1') || hasClass(el, 'h2') ||
        (el.parentElement && (hasClass(el.parentElement, 'h1') || hasClass(el.parentElement, 'h2')))
      const size = px(inherited(el, 'font-size').value)
      const min = heading ? MIN_HEADING_PX : MIN_TEXT_PX
      if (!(size >= min)) problems.push(`${describe(el)}: font-size ${size || 'unset'} < ${min}px`)
      const lh = inherited(el, 'line-height').value
      const ratio = /px$/.test(lh) ? px(lh) / size : Number(lh)
      if (!(ratio >= MIN_LINE_HEIGHT - 1e-9)) problems.push(`${describe(el)}: line-height ${lh || 'unset'} < ${MIN_LINE_HEIGHT}`)
      const fg = rules.parseColor(style(el).color)
      const ratioC = fg ? rules.contrast(fg, background(el)) : 0
      if (!(ratioC >= MIN_CONTRAST)) problems.push(`${describe(el)}: contrast ${ratioC.toFixed(2)}:1 < ${MIN_CONTRAST}:1 (${style(el).color})`)
    }
    const target = TARGET_TAGS.indexOf(el.tagName) >= 0 || hasClass(el, 'tap')
    if (target) {
      targets += 1
      const s = style(el)
      const height = Math.max(px(s.minHeight) || 0, px(s.height) || 0)
      const width = Math.max(px(s.minWidth) || 0, px(s.width) || 0, /%$/.test(s.width) ? Infinity : 0)
      if (!(height >= MIN_TARGET_PX)) problems.push(`${describe(el)}: touch target height ${height || 'unset'} < ${MIN_TARGET_PX}px`)
      if (!(width >= MIN_TARGET_PX)) problems.push(`${describe(el)}: touch target width ${width || 'unset'} < ${MIN_TARGET_PX}px`)
    }
    if (hasClass(el, 'instruction')) {
      const next = el.nextElementSibling
      if (!next || next.tagName !== 'SPEAK-BUTTON') problems.push(`${describe(el)}: instruction without a 朗读 button after it`)
    }
  }
  return { problems, texts, targets }
}

module.exports = { audit, MIN_TEXT_PX, MIN_HEADING_PX, MIN_TARGET_PX }
