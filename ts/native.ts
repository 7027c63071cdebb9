// The generated N-API binding (index.js + index.d.ts at the package root). ts/ and its output
// directory dist/ sit at the same depth, so this one path serves the source and the build.
import native = require('../index.js')

export { native }
