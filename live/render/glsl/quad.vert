#version 330 core
// A textured rectangle in output pixels (text lines, the HUD panel), y down from the top left.
uniform vec4 rect;              // x, y, width, height in pixels
uniform vec2 target_size;
uniform bool flip_y;
out vec2 quad_uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    quad_uv = corner;
    vec2 pixel = rect.xy + corner * rect.zw;
    vec2 clip = pixel / target_size * 2.0 - 1.0;
    gl_Position = vec4(clip.x, flip_y ? -clip.y : clip.y, 0.0, 1.0);
}
