/** Build-time data from vite.config.ts's plugins. */
declare module 'virtual:g3n-tiny-matformer' {
  /** The tiny MatFormer parent's config.json and its slicing configurations (slices/*.json); null when the build has no such fixture. */
  const fixture: { config: unknown; slices: unknown[] } | null;
  export default fixture;
}
