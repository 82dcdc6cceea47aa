package local

import "flag"

// update rewrites golden files and docs/img/webchat.png (go test -update).
var update = flag.Bool("update", false, "rewrite the golden files in testdata and the README screenshot")
