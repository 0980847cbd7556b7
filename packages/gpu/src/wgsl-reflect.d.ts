// wgsl_reflect's package "main" is a CommonJS file inside a "type": "module" package, which Node
// refuses; its ES module build is imported by path instead, with the package's own types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
