"""The GraphQL documents soak clients send: each asks only for what the client checks."""

CREATE_PROPERTY = """mutation CreateProperty($input: CreatePropertyInput!) {
  createProperty(input: $input) { property { id realtyId } } }"""

CREATE_IMAGE = """mutation CreatePropertyImage($input: CreatePropertyImageInput!) {
  createPropertyImage(input: $input) { image { id realtyImageId hero active processing } } }"""

UPDATE = """mutation UpdateImage($input: UpdateImageInput!) {
  updateImage(input: $input) { image { realtyImageId hero } } }"""

REORDER = """mutation ReorderImages($input: ReorderImagesInput!) {
  reorderImages(input: $input) { property { imageCount } } }"""

PUBLISH = """mutation PublishImages($input: PublishImagesInput!) {
  publishImages(input: $input) { property { imageCount } } }"""

UNPUBLISH = """mutation UnpublishImages($input: UnpublishImagesInput!) {
  unpublishImages(input: $input) { property { imageCount } } }"""

DELETE = """mutation DeleteImage($input: DeleteImageInput!) { deleteImage(input: $input) { success } }"""

COPY = """mutation CopyImages($input: CopyImagesInput!) {
  copyImages(input: $input) { images { realtyImageId hero } } }"""

PROPERTY = """query Property($id: ID!) {
  property(id: $id) { realtyId imageCount images { realtyImageId position hero active processing url
    renditions { name url } } } }"""

IMAGE = """query Image($id: ID!) { image(id: $id) { realtyImageId hero active processing } }"""
