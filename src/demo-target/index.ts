export { DEMO_TARGET_NAME, startDemoTarget, type RunningDemoTarget } from './demo-target';
