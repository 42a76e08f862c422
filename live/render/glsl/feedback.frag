#version 330 core
// Trails: the last composed frame, zoomed and turned about the centre, mixed under the new one.
in vec2 image_uv;
out vec4 colour;

uniform sampler2D current;
uniform sampler2D trail;        // last frame's output of this pass (ping-pong)
uniform vec2 target_size;
uniform mat2 trail_rotozoom;    // rotation and 1/zoom of the trail, per frame
uniform float amount;           // 0 = no trail

void main() {
    float aspect = target_size.x / target_size.y;
    vec2 canvas = (image_uv * 2.0 - 1.0) * vec2(aspect, 1.0);
    vec2 uv = (trail_rotozoom * canvas) / vec2(aspect, 1.0) * 0.5 + 0.5;
    vec3 now = texture(current, image_uv).rgb;
    vec3 before = texture(trail, uv).rgb;
    colour = vec4(mix(now, before, amount), 1.0);
}
