/**
 * The environment for a child process that runs the server: tap's coverage
 * hooks removed (the child's coverage cannot be mapped; see
 * test/coverage-map.mjs), plus `extra`.
 */
export function childEnv(extra: Record<string, string> = {}, options: { dropServerSettings?: boolean } = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    const tapHook = key === 'NODE_V8_COVERAGE' || key === 'NODE_OPTIONS' || key.startsWith('_TAPJS') || key.startsWith('TAP_');
    if (tapHook || (options.dropServerSettings && key.startsWith('SRE_QUERO_'))) delete env[key];
  }
  return { ...env, ...extra };
}
