// A storage account the service exports into (POST /export): the app's identity may write blobs
// there. The files are copied by Blob Storage itself from the service's own account, which the
// identity reads with a user delegation SAS (its Storage Blob Data Owner role covers that).
param accountName string
param principalId string

// Storage Blob Data Contributor: create the exported files and errors.log, read their copy state.
var blobDataContributorRole = 'ba92f5b4-2d11-453f-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource contributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, blobDataContributorRole)
  scope: account
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRole)
  }
}
