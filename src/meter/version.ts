/** The package version, read once from pipemeter's package.json. */
import { packageVersion } from '../shared/package-root.js';

export const VERSION: string = packageVersion();
