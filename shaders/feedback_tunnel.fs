/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Feedback tunnel: the new picture sits in a frame at the centre and every frame the last frame is zoomed, turned and faded around it, so copies of the image stream out of (or into) an endless tunnel, their hue drifting.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Feedback"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "zoomSpeed", "TYPE": "float", "LABEL": "Zoom speed (per second; negative: outward)", "MIN": -2.0, "MAX": 2.0, "DEFAULT": 0.6},
        {"NAME": "turnSpeed", "TYPE": "float", "LABEL": "Turn speed (radians per second)", "MIN": -3.0, "MAX": 3.0, "DEFAULT": 0.4},
        {"NAME": "echoLife", "TYPE": "float", "LABEL": "Echo life (seconds to fade to a third)", "MIN": 0.05, "MAX": 4.0, "DEFAULT": 1.5},
        {"NAME": "hueDrift", "TYPE": "float", "LABEL": "Echo hue drift (turns per second)", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.15},
        {"NAME": "insetSize", "TYPE": "float", "LABEL": "New picture size (fraction of the screen)", "MIN": 0.1, "MAX": 1.0, "DEFAULT": 0.5},
        {"NAME": "ringRate", "TYPE": "float", "LABEL": "Frame rings per second", "MIN": 0.0, "MAX": 8.0, "DEFAULT": 2.0},
        {"NAME": "ringColor", "TYPE": "color", "LABEL": "Ring colour", "DEFAULT": [1.0, 0.95, 0.85, 1.0]},
        {"NAME": "inputLevel", "TYPE": "float", "LABEL": "New picture over its echo", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 1.0},
        {"NAME": "centre", "TYPE": "point2D", "LABEL": "Tunnel centre (0..1)", "MIN": [0.0, 0.0], "MAX": [1.0, 1.0], "DEFAULT": [0.5, 0.5]}
    ],
    "PASSES": [
        {"TARGET": "echoes", "PERSISTENT": true, "WIDTH": "$WIDTH/2", "HEIGHT": "$HEIGHT/2"},
        {}
    ]
}*/

// Cost: two fetches per pixel in each pass (the last frame and the new picture). The echoes
// live at half size (a quarter of the pixels; they are soft anyway), and the output pass
// upscales them and draws the new picture again at full size on top. The fetches are shared
// by both passes, their coordinates chosen per pass: one program runs every pass, and
// llvmpipe pays for the fetches of an if-branch not taken. Zoom, turn and fade are scaled
// by TIMEDELTA so the tunnel moves at the same speed whatever the frame rate.

vec3 rotateHue(vec3 colour, float turns) {
    // rotation about the grey axis (Rodrigues' formula with axis (1,1,1)/sqrt(3))
    float angle = turns * 6.2832;
    vec3 axis = vec3(0.57735);
    float c = cos(angle);
    return colour * c + cross(axis, colour) * sin(angle) + axis * dot(axis, colour) * (1.0 - c);
}

void main() {
    vec2 uv = isf_FragNormCoord;
    bool feedbackPass = PASSINDEX == 0;
    float aspect = RENDERSIZE.x / RENDERSIZE.y;
    vec2 offset = (uv - centre) * vec2(aspect, 1.0);
    float angle = turnSpeed * TIMEDELTA;
    offset = mat2(cos(angle), sin(angle), -sin(angle), cos(angle)) * offset;
    offset *= exp(-zoomSpeed * TIMEDELTA);  // sampling closer in zooms the echo out
    vec2 from = feedbackPass ? centre + offset / vec2(aspect, 1.0) : uv;
    vec3 echo = IMG_NORM_PIXEL(echoes, clamp(from, 0.0, 1.0)).rgb;
    if (feedbackPass) {
        float onScreen = step(0.0, from.x) * step(from.x, 1.0) * step(0.0, from.y) * step(from.y, 1.0);
        echo = rotateHue(echo * onScreen, hueDrift * TIMEDELTA) * exp(-TIMEDELTA * 1.1 / echoLife);
        // the target is 8-bit (a float one costs 4x the bandwidth): without this step a dim
        // echo rounds back to itself every frame and never fades out
        echo = clamp(echo - 0.75 / 255.0, 0.0, 1.0);
    }
    // the whole new picture, shrunk into a frame around the centre; outside it only echoes
    vec2 inInset = (uv - centre) / insetSize + 0.5;
    float inside = step(abs(inInset.x - 0.5), 0.5) * step(abs(inInset.y - 0.5), 0.5);
    vec3 fresh = IMG_NORM_PIXEL(inputImage, clamp(inInset, 0.0, 1.0)).rgb;
    vec3 colour = mix(echo, fresh, inside * inputLevel);
    // the inset's border flashes ringRate times a second; the echoes carry each flash outward
    // as a separate ring, so the tunnel's walls are visible (2 output pixels wide)
    vec2 borderPixels = (0.5 - abs(inInset - 0.5)) * insetSize * RENDERSIZE;
    float ringPixels = feedbackPass ? 1.0 : 2.0;  // the echoes are at half size
    float border = inside * step(min(borderPixels.x, borderPixels.y), ringPixels);
    float flash = ringRate > 0.0 ? step(fract(TIME * ringRate), 0.15) : 0.0;
    gl_FragColor = vec4(mix(colour, ringColor.rgb, border * flash), 1.0);
}
