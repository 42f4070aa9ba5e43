// The function app on the Flex Consumption plan (pay per execution, scales to zero), running as
// the user-assigned identity. Its settings are exactly the ones the code reads (see
// shared/config.py) plus the ones the Functions platform itself reads.
param name string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param blobEndpoint string
param dicomContainerName string
param deploymentContainerName string
param cosmosEndpoint string
param cosmosDatabaseName string
param cosmosContainerName string
param applicationInsightsConnectionString string
param maximumInstanceCount int
param instanceMemoryMB int
param httpPerInstanceConcurrency int
param workerProcessCount int
param corsAllowedOrigins array
param maxRequestBytes int
param enableDataPartitions bool
param htj2kCopy bool
param authIssuer string
param authAudience string
param authReaderRole string
param authOwnerRole string

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      cors: { allowedOrigins: corsAllowedOrigins }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // The local host takes the same two defaults (devhost/workers.py).
        triggers: { http: { perInstanceConcurrency: httpPerInstanceConcurrency } }
      }
      runtime: { name: 'python', version: '3.11' }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: {
    // Read by the Functions platform.
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    PYTHON_ENABLE_INIT_INDEXING: '1'
    FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: string(maxRequestBytes)
    FUNCTIONS_WORKER_PROCESS_COUNT: string(workerProcessCount)
    // Read by the service (shared/config.py).
    DICOMWEB_BLOB_ENDPOINT: blobEndpoint
    DICOMWEB_BLOB_CONTAINER: dicomContainerName
    DICOMWEB_COSMOS_ENDPOINT: cosmosEndpoint
    DICOMWEB_COSMOS_DATABASE: cosmosDatabaseName
    DICOMWEB_COSMOS_CONTAINER: cosmosContainerName
    DICOMWEB_BASE_URL: 'https://${app.properties.defaultHostName}'
    DICOMWEB_MAX_REQUEST_BYTES: string(maxRequestBytes)
    // A request body may pause this long between chunks, and take this long in all (then 408).
    DICOMWEB_BODY_IDLE_SECONDS: '30'
    DICOMWEB_BODY_TIMEOUT_SECONDS: '600'
    AZURE_CLIENT_ID: identityClientId
    // A DELETE purges files for this long, then answers 202 and leaves the rest to the sweep,
    // a timer function that also clears up after requests that died (NCRONTAB: every 5 minutes).
    DICOMWEB_DELETE_INLINE_SECONDS: '30'
    // An export copies files for this long before it answers 202; the sweep does the rest.
    DICOMWEB_EXPORT_INLINE_SECONDS: '20'
    // A bulk update changes instances for this long before it answers 202; the sweep does the rest.
    DICOMWEB_UPDATE_INLINE_SECONDS: '20'
    // Routes under /v{n}/partitions/{name}/; off unless chosen when the service is deployed.
    DICOMWEB_DATA_PARTITIONS: enableDataPartitions ? 'true' : 'false'
    // An HTJ2K copy of the pixel data at ingest, for frames asked for in HTJ2K.
    DICOMWEB_HTJ2K_COPY: htj2kCopy ? 'true' : 'false'
    DICOMWEB_SWEEP_SCHEDULE: '0 */5 * * * *'
    // Callers need an Entra ID token for this audience with one of these app roles.
    DICOMWEB_AUTH_MODE: 'oidc'
    DICOMWEB_AUTH_ISSUER: authIssuer
    DICOMWEB_AUTH_AUDIENCE: authAudience
    DICOMWEB_AUTH_READER_ROLE: authReaderRole
    DICOMWEB_AUTH_OWNER_ROLE: authOwnerRole
    DICOMWEB_AUTH_KEY_REFRESH_SECONDS: '300'
  }
}

output name string = app.name
output url string = 'https://${app.properties.defaultHostName}'
