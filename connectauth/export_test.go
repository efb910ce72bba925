package connectauth

// H2CHandoff exposes h2cHandoff to the tests.
var H2CHandoff = h2cHandoff
