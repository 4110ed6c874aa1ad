/**
 * The mini-program as files: a project WeChat DevTools opens as is, pages that all follow
 * the 长辈版 conventions in their WXML (including the screens a journey does not reach),
 * JSDoc types that exist in the generated contract, nothing loaded from outside.
 */
const fs = require('fs')
const { spawnSync } = require('child_process')
const path = require('path')
const mp = require('./helpers/mp')
const rules = require('./helpers/rules')
const qr = require('./helpers/qr')

const ROOT = mp.MINIAPP
const read = file => fs.readFileSync(path.join(ROOT, file), 'utf8')
const appJson = JSON.parse(read('app.json'))

function wxmlDocument(file) {
  // WXML parses well enough as HTML for looking at tags, classes and bindings.
  const doc = document.implementation.createHTMLDocument('wxml')
  doc.body.innerHTML = read(file)
  return doc
}

function allWxml() {
  const out = []
  const walk = dir => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(rel)
      else if (entry.name.endsWith('.wxml')) out.push(rel)
    }
  }
  walk('pages')
  walk('components')
  return out
}

test('project.config.json, app.json and sitemap.json make a project DevTools opens as is', () => {
  const project = JSON.parse(read('project.config.json'))
  expect(project.compileType).toBe('miniprogram')
  expect(project.miniprogramRoot).toBe('./')
  expect(['touristappid', 'wx-dev-appid']).toContain(project.appid)
  expect(project.libVersion).toMatch(/^\d+\.\d+\.\d+$/)
  expect(JSON.parse(read('sitemap.json')).rules).toBeInstanceOf(Array)
  expect(appJson.sitemapLocation).toBe('sitemap.json')
  expect(appJson.plugins).toBeUndefined() // a plugin would need an authorised app id
  for (const page of appJson.pages) {
    for (const ext of ['js', 'json', 'wxml', 'wxss']) {
      expect([page, ext, fs.existsSync(path.join(ROOT, `${page}.${ext}`))]).toEqual([page, ext, true])
    }
    for (const [name, target] of Object.entries(JSON.parse(read(`${page}.json`)).usingComponents || {})) {
      expect([name, fs.existsSync(path.join(ROOT, path.dirname(page), `${target}.json`))]).toEqual([name, true])
    }
  }
})

test('every page: 长辈版 class on its root, the shared styles, the page behaviour', () => {
  for (const page of appJson.pages) {
    const wxml = read(`${page}.wxml`).trim()
    expect([page, /^<view class="page \{\{elder \? 'elder' : ''\}\}">/.test(wxml)]).toEqual([page, true])
    expect([page, read(`${page}.wxss`).includes('@import "../../styles/common.wxss";')]).toEqual([page, true])
    expect([page, read(`${page}.js`).includes('behaviors: [pageBehavior]')]).toEqual([page, true])
  }
})

test('in the WXML of every screen: each instruction has a 朗读 button, each tappable thing is a target', () => {
  const problems = []
  for (const file of allWxml()) {
    const doc = wxmlDocument(file)
    for (const el of doc.body.querySelectorAll('*')) {
      const cls = ` ${el.getAttribute('class') || ''} `
      if (/ instruction /.test(cls)) {
        const next = el.nextElementSibling
        if (!next || next.tagName.toLowerCase() !== 'speak-button') problems.push(`${file}: instruction "${el.textContent.trim().slice(0, 20)}" has no 朗读 button after it`)
      }
      const tappable = Array.from(el.attributes).some(a => /^(bind|catch):?(tap|getphonenumber|longpress)$/.test(a.name))
      if (tappable) {
        const tag = el.tagName.toLowerCase()
        if (tag !== 'button' && !/ (tap|btn|btn-secondary|btn-danger|choice) /.test(cls)) problems.push(`${file}: <${tag}> is tapped but is not a 60 px target`)
      }
      if (el.tagName.toLowerCase() === 'picker') {
        const inner = el.firstElementChild
        if (!inner || !/ tap /.test(` ${inner.getAttribute('class') || ''} `)) problems.push(`${file}: picker without a tap target inside`)
      }
      if (el.tagName.toLowerCase() === 'button' && !/ (btn|btn-secondary|btn-danger|choice|tap|speak|notice-btn|banner-btn) /.test(cls)) {
        problems.push(`${file}: <button> "${el.textContent.trim().slice(0, 12)}" without a sized class`)
      }
    }
  }
  expect(problems).toEqual([])
})

test('the API layer type-checks against the generated contract (tsc --checkJs on its JSDoc)', () => {
  const used = [...read('api/client.js').matchAll(/components\['schemas'\]\['([A-Za-z0-9_]+)'\]/g)].map(m => m[1])
  expect(used.length).toBeGreaterThan(20)
  // A schema the contract renamed or dropped fails here, with tsc's message.
  const tsc = require.resolve('typescript/bin/tsc')
  const run = spawnSync(process.execPath, [tsc, '--noEmit', '--allowJs', '--checkJs', '--target', 'es2020',
    '--lib', 'es2020', '--module', 'commonjs', '--skipLibCheck',
    path.join(ROOT, 'typings', 'globals.d.ts'), path.join(ROOT, 'api', 'client.js')], { encoding: 'utf8' })
  expect(run.stdout + run.stderr).toBe('')
  expect(run.status).toBe(0)
})

test('nothing is loaded from outside: no remote scripts, images or fonts', () => {
  const offenders = []
  const walk = dir => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(rel)
      else if (/\.(wxml|wxss|js|json)$/.test(entry.name) && rel !== 'config.js') {
        const text = read(rel)
        if (/(src|href)=["']https?:|url\(\s*["']?https?:|require\(\s*["']https?:/.test(text)) offenders.push(rel)
      }
    }
  }
  walk('.')
  expect(offenders).toEqual([])
})

test('the vendored QR encoder makes codes an independent decoder reads back', () => {
  const { draw } = require('../miniapp_stub/utils/qr')
  const phone = mp.newDevice('qr')
  const samples = ['F3f9c2d7e8a1b4c5d6e7f8', 'a1B2-c3D4', `eyJhbGciOiJFUzI1NiJ9.${'x'.repeat(380)}.sig`]
  for (const text of samples) {
    draw('qr', null, text, 240)
    expect(qr.scan(phone.canvases.qr)).toBe(text)
  }
})

test('the domain-rule helpers agree with the worked examples of the rules', () => {
  // §1 validity table
  expect(rules.validThrough('2025-03-15', 12)).toBe('2026-03-14')
  expect(rules.validThrough('2025-08-31', 6)).toBe('2026-02-27')
  expect(rules.validThrough('2025-01-31', 1)).toBe('2025-02-27')
  // §1 rolling cycle: certified 2023-01-05, next deadline 2024-01-04
  expect(rules.validThrough('2023-01-05', 12)).toBe('2024-01-04')
  // §7 check character, and §6 masking
  expect(rules.idNumber('150102', '19500304', 11)).toMatch(/^15010219500304011[0-9X]$/)
  expect(rules.maskedIdNumber('150102195003040117')).toBe('1501**********0117')
  expect(rules.maskedPhone('13812345678')).toBe('138****5678')
  expect(rules.contrast(rules.parseColor('#ffffff'), rules.parseColor('#000000'))).toBeCloseTo(21, 5)
})
