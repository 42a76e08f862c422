#version 330 core
// One triangle that covers the target; no vertex buffer (positions from gl_VertexID).
// `image_uv` runs 0..1 over the target with y DOWN: row 0 of every intermediate texture is
// the top of the picture, as in numpy, so read-backs need no flip. Only the pass that draws
// to the window flips (see `flip_y`).
uniform bool flip_y;
out vec2 image_uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    image_uv = corner;
    vec2 clip = corner * 2.0 - 1.0;
    gl_Position = vec4(clip.x, flip_y ? -clip.y : clip.y, 0.0, 1.0);
}
