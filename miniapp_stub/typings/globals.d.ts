// The few WeChat globals the API layer uses, for type-checking it with tsc --checkJs
// (tests_js/static.test.js). WeChat DevTools ignores .d.ts files.
declare const wx: any
declare function getApp(): any
declare function requirePlugin(name: string): any
