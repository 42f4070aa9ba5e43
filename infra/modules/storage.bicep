// Blob Storage, the system of record: DICOM files and their sidecars, plus the app's deployment
// package. Shared-key access and public access are off; the app's identity is the data owner.
param name string
param location string
param tags object
param coolAfterDays int
param dataOwnerPrincipalId string

var dicomContainerName = 'dicom'
var deploymentContainerName = 'app-package'
// Storage Blob Data Owner.
var blobDataOwnerRole = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take(name, 24)
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource dicom 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: dicomContainerName
  properties: { publicAccess: 'None' }
}

resource deployment 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// DICOM files are read most in their first weeks; after that the Cool tier costs less to keep.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'dicom-to-cool'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['${dicomContainerName}/']
            }
            actions: {
              baseBlob: {
                tierToCool: { daysAfterModificationGreaterThan: coolAfterDays }
              }
            }
          }
        }
      ]
    }
  }
}

resource owner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, dataOwnerPrincipalId, blobDataOwnerRole)
  scope: account
  properties: {
    principalId: dataOwnerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwnerRole)
  }
}

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output dicomContainerName string = dicom.name
output deploymentContainerName string = deployment.name
