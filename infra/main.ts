import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { applyCompliancePacks } from './compliance.ts';
import { loadDeploymentConfig } from './config.ts';
import { DicomDestinationStack, stackName } from './dicom-destination-stack.ts';

// `cdk synth -c config=config/prod.json`; relative paths are from infra/.
const app = new App();
const configFile = path.resolve(import.meta.dirname, String(app.node.tryGetContext('config') ?? 'config/example.json'));
const config = loadDeploymentConfig(configFile);

new DicomDestinationStack(app, stackName(config), config);
applyCompliancePacks(app);
app.synth();
