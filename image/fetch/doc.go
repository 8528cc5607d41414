// Package fetch brings images into an image.Store: from a registry (Pull)
// and from an archive (Import), through go-containerregistry.
//
// It is kept apart from package image so that what runs a jail on an
// image (image.Store.Lookup) needs none of go-containerregistry.
//
//	s, err := image.Open(image.DefaultDir)
//	img, err := fetch.Pull(ctx, s, "alpine:3.20", fetch.Options{})
//	// img.Layers: overlayfs lowerdirs, lowest first
package fetch
