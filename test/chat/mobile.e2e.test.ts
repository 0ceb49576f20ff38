/** The chat demo in headless Chromium at a phone width (390 x 844, touch); the tests are in suite.ts. */
import { MOBILE } from './browser-harness.js';
import { chatSuite } from './suite.js';

chatSuite(MOBILE);
