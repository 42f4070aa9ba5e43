// The DICOMweb service in one resource group: Functions on the Flex Consumption plan, Blob Storage
// for DICOM files, serverless Cosmos DB for the index, a user-assigned managed identity holding
// every data-plane role (no keys anywhere), and Application Insights.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the environment (azd sets it); used in resource names and tags.')
param environmentName string

@minLength(1)
@description('Azure region for every resource. It must offer the Flex Consumption plan.')
param location string

@description('Largest number of instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('HTTP invocations one instance runs at once; more wait or go to another instance.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Python worker processes per instance (FUNCTIONS_WORKER_PROCESS_COUNT).')
@minValue(1)
@maxValue(10)
param workerProcessCount int = 1

@description('Browser origins allowed to call the API (for example a viewer\'s origin).')
param corsAllowedOrigins array = []

@description('Entra ID tenant whose tokens the API accepts (default: the deployment\'s tenant).')
param authTenantId string = tenant().tenantId

@description('Token issuer; empty means Entra ID v1 tokens of authTenantId (what `az account get-access-token --resource` returns). For v2 tokens use https://login.microsoftonline.com/<tenant>/v2.0.')
param authIssuer string = ''

@minLength(1)
@description('Audience the tokens must be for: the Application ID URI (or client id) of the API\'s app registration.')
param authAudience string

@description('App role (token "roles" claim) that may search and retrieve.')
param authReaderRole string = 'DicomDataReader'

@description('App role that may also store and delete.')
param authOwnerRole string = 'DicomDataOwner'

@description('Days after which stored DICOM files move to the Cool access tier.')
@minValue(1)
param coolAfterDays int = 30

@description('Largest accepted store request body, in bytes.')
param maxRequestBytes int = 4294967296

@description('Serve every route again under /v{n}/partitions/{name}/, each data partition on its own (off by default, as in the Azure DICOM service).')
param enableDataPartitions bool = false

@description('Write an HTJ2K lossless copy of each instance\'s pixel data at ingest, from which frames asked for in HTJ2K are served (more storage and ingest CPU, cheaper HTJ2K frames).')
param htj2kCopy bool = false

@description('Storage accounts exports may write to, each { resourceGroup: ..., account: ... }: the app identity gets Storage Blob Data Contributor on each.')
param exportDestinations array = []

var tags = { 'azd-env-name': environmentName }
var issuer = empty(authIssuer) ? 'https://sts.windows.net/${authTenantId}/' : authIssuer
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: group
  params: {
    name: 'id-dicomweb-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    name: 'dicomweb-${token}'
    location: location
    tags: tags
    publisherPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: {
    name: 'stdicom${token}'
    location: location
    tags: tags
    coolAfterDays: coolAfterDays
    dataOwnerPrincipalId: identity.outputs.principalId
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: group
  params: {
    name: 'cosmos-dicomweb-${token}'
    location: location
    tags: tags
    dataContributorPrincipalId: identity.outputs.principalId
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    name: 'func-dicomweb-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    dicomContainerName: storage.outputs.dicomContainerName
    deploymentContainerName: storage.outputs.deploymentContainerName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    cosmosContainerName: cosmos.outputs.containerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    workerProcessCount: workerProcessCount
    corsAllowedOrigins: corsAllowedOrigins
    maxRequestBytes: maxRequestBytes
    enableDataPartitions: enableDataPartitions
    htj2kCopy: htj2kCopy
    authIssuer: issuer
    authAudience: authAudience
    authReaderRole: authReaderRole
    authOwnerRole: authOwnerRole
  }
}

module exportDestination 'modules/exportdestination.bicep' = [
  for (destination, i) in exportDestinations: {
    name: 'exportdestination-${i}'
    scope: resourceGroup(destination.resourceGroup)
    params: {
      accountName: destination.account
      principalId: identity.outputs.principalId
    }
  }
]

output AZURE_RESOURCE_GROUP string = group.name
output DICOMWEB_URL string = app.outputs.url
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
