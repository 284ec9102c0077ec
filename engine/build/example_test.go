package build_test

import (
	"context"
	"fmt"

	"github.com/skiff-project/skiff/engine/build"
)

// A plan is plain values: stages, what each needs, and every step expanded.
func ExampleNewPlan() {
	containerfile := `ARG VERSION=1.0
FROM 127.0.0.1:5000/skiff/busybox:${VERSION} AS build
ARG VERSION
RUN echo $VERSION > /version
FROM scratch
COPY --from=build /version /
`
	p, err := build.NewPlan(context.Background(), []byte(containerfile), build.PlanOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(p)
	fmt.Println(p.Stages[0].Steps[1].BuildArgs)

	_, err = build.NewPlan(context.Background(), []byte("FROM scratch\nCOPY --from=nope /a /b\nFROB\n"), build.PlanOptions{})
	fmt.Println(err)
	// Output:
	// stage 0 "build" from image 127.0.0.1:5000/skiff/busybox:1.0 needs []
	//   3: ARG VERSION
	//   4: RUN {"Args":["/bin/sh","-c","echo $VERSION > /version"],"Network":"default"}
	// stage 1 "" from scratch needs [0]
	//   6: COPY {"Add":false,"From":{"Kind":"stage","Name":"build"},"Sources":["/version"],"Dest":"/"}
	// [VERSION=1.0]
	// Containerfile:3: unknown instruction: FROB (did you mean FROM?)
}
