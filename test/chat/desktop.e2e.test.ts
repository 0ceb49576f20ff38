/** The chat demo in headless Chromium at a desktop width (1280 x 800); the tests are in suite.ts. */
import { DESKTOP } from './browser-harness.js';
import { chatSuite } from './suite.js';

chatSuite(DESKTOP);
