// Which source files each test file counts toward coverage (tap's coverage-map).
// The process tests (serve, image, serve-cluster, uninstall) run the server or
// the CLI in a child process; its coverage would be merged against different
// source maps, so they count for nothing here: they assert behaviour, not lines.
export default (testFile) => (/(^|\/)(serve|image|serve-cluster|uninstall)\.test\.ts$/.test(testFile) ? null : []);
