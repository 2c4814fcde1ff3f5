export { DemoTargetModule } from './demo-target.module';
export {
  DemoTargetService,
  DEMO_TARGET_NAME,
  type DemoTargetCredentials,
} from './demo-target.service';
