// The generated N-API binding. Its path is relative to the compiled file (dist/cjs/native.js); its
// types come from the generated index.d.ts at the package root.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: typeof import('../index.js') = require('../../index.js')
